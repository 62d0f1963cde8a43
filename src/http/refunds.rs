//! `POST/GET /api/admin/orders/{order_id}/refunds`: an operator's refund requests.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};

use super::{
    ApiError, AppState,
    admin::Admin,
    body::{JsonBody, Path, idempotency_key},
    openapi::{
        operator::{RefundAccepted, RefundBody, RefundRequests},
        schemas::{AdminErrors, BodyErrors, ErrorBody},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    orders::OrderId,
    refunds::{self, NewRefund, RawRefund, RefundError, Refusal},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list))
}

/// Refund an order in full or in part, optionally cancelling its job; carried out by the
/// outbox with one Stripe idempotency key per request.
#[utoipa::path(post, path = "/api/admin/orders/{order_id}/refunds", tag = "admin", operation_id = "create_refund",
    params(("order_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1-255 visible ASCII: the same request again is refused (409 duplicate_request)")),
    request_body = RefundBody,
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "written; the worker carries it out (for a held payment, `authorized`, the hold is released instead: status `releasing`)", body = RefundAccepted),
        (status = 400, description = "invalid input (the field named): nothing written", body = ErrorBody),
        (status = 404, description = "no such order", body = ErrorBody),
        (status = 409, description = "order_not_paid, order_disputed, payment_unknown, job_scheduled (without override_dispatched), job_completed (with cancel_job), duplicate_request, conflict (the key used for another request): nothing written", body = ErrorBody),
        (status = 422, description = "amount_too_large: more than remains refundable, requests in flight counted; nothing written", body = ErrorBody),
        BodyErrors, AdminErrors,
    ))]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Result<JsonBody<RawRefund>, ApiError>,
) -> Result<(StatusCode, Json<RefundAccepted>), ApiError> {
    let order_id = OrderId::parse(&order_id).ok_or(ApiError::NotFound)?;
    let key = idempotency_key(&headers)?;
    let JsonBody(raw) = body?;
    // The description's limit counts the reason as sent; the domain's, once trimmed.
    if raw
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > refunds::REASON_MAX)
    {
        return Err(ApiError::invalid("reason", "at most 500 characters"));
    }
    let new =
        NewRefund::parse(raw).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let accepted =
        match refunds::refund_or_release(&state.pool, &order_id, &new, key.as_ref()).await? {
            refunds::Asked::Releasing => RefundAccepted {
                ok: true,
                refund_request_id: None,
                status: "releasing".into(),
            },
            refunds::Asked::Requested(id) => RefundAccepted {
                ok: true,
                refund_request_id: Some(id.0),
                status: "requested".into(),
            },
        };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The order's refund requests and their outcome, oldest first.
#[utoipa::path(get, path = "/api/admin/orders/{order_id}/refunds", tag = "admin", operation_id = "list_refunds",
    params(("order_id" = String, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = RefundRequests),
        (status = 404, description = "no such order", body = ErrorBody), AdminErrors))]
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<RefundRequests>, ApiError> {
    let order_id = OrderId::parse(&order_id).ok_or(ApiError::NotFound)?;
    if !refunds::list::order_exists(&state.pool, &order_id).await? {
        return Err(ApiError::NotFound);
    }
    let rows = refunds::list::for_order(&state.pool, &order_id).await?;
    Ok(Json(RefundRequests {
        ok: true,
        order_id: order_id.to_string(),
        refunds: rows,
    }))
}

fn refused(
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
) -> ApiError {
    ApiError::Refused {
        status,
        code,
        message,
        field,
    }
}

impl From<RefundError> for ApiError {
    fn from(e: RefundError) -> Self {
        let message = e.to_string();
        let conflict = |code, field| refused(StatusCode::CONFLICT, code, message.clone(), field);
        match e {
            RefundError::NoSuchOrder => ApiError::NotFound,
            RefundError::Database(d) => d.into(),
            RefundError::Duplicate(_) => conflict("duplicate_request", Some("Idempotency-Key")),
            RefundError::KeyReused => conflict("conflict", Some("Idempotency-Key")),
            RefundError::Job(_) => conflict("job_refused", None),
            RefundError::Hold(h) => h.into(),
            RefundError::Refused(r) => match r {
                Refusal::TooMuch { .. } => refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "amount_too_large",
                    message,
                    Some("amount"),
                ),
                Refusal::NotPaid(_) => conflict("order_not_paid", None),
                Refusal::Disputed => conflict("order_disputed", None),
                Refusal::PaymentUnknown => conflict("payment_unknown", None),
                Refusal::JobScheduled => conflict("job_scheduled", Some("override_dispatched")),
                Refusal::JobCompleted => conflict("job_completed", Some("cancel_job")),
            },
        }
    }
}
