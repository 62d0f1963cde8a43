use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

#[allow(unused_imports)] // named by the OpenAPI attribute only
use super::openapi::schemas::CheckoutRefused;
use super::{
    body::JsonBody,
    error::ApiError,
    openapi::schemas::{CheckoutProcessing, CheckoutReady, CheckoutRequest, ErrorBody, Pay},
    state::AppState,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::checkout::{
    CheckoutOutcome,
    request::{NewCheckout, RawCheckout},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_checkout))
}

/// `POST /api/shop`: parse, write order + outbox task, wait briefly for the worker.
#[utoipa::path(post, path = "/api/shop", tag = "storefront", operation_id = "create_checkout",
    request_body = CheckoutRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1-255 visible ASCII: the same key and body replay the first answer"),
        ("X-Request-Id" = Option<String>, Header, description = "echoed; generated when absent"),
    ),
    responses(
        (status = 200, description = "the job and the Stripe session exist", body = CheckoutReady, links(
            ("order_status" = (operation_id = "order_status", parameters(("order_id" = "$response.body#/order_id")))),
            ("refund" = (operation_id = "create_refund", parameters(("order_id" = "$response.body#/order_id")))),
            ("refunds" = (operation_id = "list_refunds", parameters(("order_id" = "$response.body#/order_id")))),
            ("schedule" = (operation_id = "schedule_job", parameters(("job_id" = "$response.body#/job_id")))),
            ("complete" = (operation_id = "complete_job", parameters(("job_id" = "$response.body#/job_id")))),
            ("cancel" = (operation_id = "cancel_job", parameters(("job_id" = "$response.body#/job_id")))),
        )),
        (status = 202, description = "the order is safe; poll status_url", body = CheckoutProcessing, links(
            ("order_status" = (operation_id = "order_status", parameters(("order_id" = "$response.body#/order_id")))),
        )),
        (status = 400, description = "invalid input: nothing written", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "Stripe refused the order (payment_setup_failed)", body = CheckoutRefused),
        (status = 503, description = "database unreachable before the order was written, or the request ran past its time limit", body = ErrorBody),
    ))]
pub async fn create_checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonBody<RawCheckout>, ApiError>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    // Boxed: the checkout's future is large, and the router moves the handler's future
    // several times before it runs; a pointer is cheaper to move than the whole state.
    let outcome = Box::pin(accept(&state, &headers, body)).await;
    if let Ok(done) = &outcome {
        super::request_trace::record_checkout_trace_id(done.checkout_trace_id());
    }
    crate::metrics::checkout(outcome_label(&outcome), started.elapsed());
    Ok(respond(outcome?))
}

/// The key, then the body, then the order written and waited for.
async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<JsonBody<RawCheckout>, ApiError>,
) -> Result<CheckoutOutcome, ApiError> {
    let key = super::body::idempotency_key(headers)?;
    let JsonBody(raw) = body?;
    let checkout = NewCheckout::parse(raw, &state.settings.checkout_urls.defaults)
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let request_id = super::request_trace::request_id(headers);
    Ok(state.checkouts.create(checkout, key, request_id).await?)
}

/// The `outcome` label of `h2s_checkouts_total`.
fn outcome_label(outcome: &Result<CheckoutOutcome, ApiError>) -> &'static str {
    match outcome {
        Ok(CheckoutOutcome::Ready { .. }) => "ready",
        Ok(CheckoutOutcome::Processing { .. }) => "processing",
        Ok(CheckoutOutcome::Failed { .. }) => "failed",
        Err(ApiError::Invalid { .. } | ApiError::BadRequest(_)) => "invalid",
        Err(_) => "error",
    }
}

fn respond(outcome: CheckoutOutcome) -> Response {
    match outcome {
        CheckoutOutcome::Ready {
            order_id,
            checkout_trace_id,
            job_id,
            session_id,
            session_url,
        } => Json(CheckoutReady {
            ok: true,
            checkout_trace_id,
            order_id: order_id.to_string(),
            job_id,
            pay: Pay {
                session_url: Some(session_url),
                session_id,
            },
        })
        .into_response(),
        CheckoutOutcome::Processing {
            order_id,
            checkout_trace_id,
        } => (
            StatusCode::ACCEPTED,
            Json(CheckoutProcessing {
                ok: true,
                checkout_trace_id,
                status: "processing".into(),
                status_url: format!("/api/orders/{order_id}"),
                order_id: order_id.to_string(),
            }),
        )
            .into_response(),
        CheckoutOutcome::Failed {
            order_id,
            checkout_trace_id,
            reason,
        } => ApiError::PaymentSetupFailed {
            order_id: order_id.to_string(),
            checkout_trace_id,
            reason,
        }
        .into_response(),
    }
}
