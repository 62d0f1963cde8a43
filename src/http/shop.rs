use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{ApiError, AppState, JsonBody};
use crate::checkout::{
    CheckoutOutcome, IdempotencyKey,
    request::{NewCheckout, RawCheckout},
};

/// `POST /api/shop`: parse, write order + outbox task, wait briefly for the worker.
pub async fn create_checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonBody<RawCheckout>, ApiError>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let outcome = async {
        let key =
            match headers.get("idempotency-key") {
                None => None,
                Some(v) => Some(v.to_str().ok().and_then(IdempotencyKey::parse).ok_or_else(
                    || {
                        ApiError::invalid(
                            "Idempotency-Key",
                            "must be 1 to 255 visible ASCII characters",
                        )
                    },
                )?),
            };
        let JsonBody(raw) = body?;
        let checkout =
            NewCheckout::try_from(raw).map_err(|e| ApiError::invalid(e.field, e.message))?;
        let request_id = super::request_trace::request_id(&headers);
        Ok::<_, ApiError>(state.checkouts.create(checkout, key, request_id).await?)
    }
    .await;
    if let Ok(done) = &outcome {
        super::request_trace::record_checkout_trace_id(done.checkout_trace_id());
    }
    crate::metrics::checkout(
        match &outcome {
            Ok(CheckoutOutcome::Ready { .. }) => "ready",
            Ok(CheckoutOutcome::Processing { .. }) => "processing",
            Ok(CheckoutOutcome::Failed { .. }) => "failed",
            Err(ApiError::Invalid { .. } | ApiError::BadRequest(_)) => "invalid",
            Err(_) => "error",
        },
        started.elapsed(),
    );
    Ok(match outcome? {
        CheckoutOutcome::Ready {
            order_id,
            checkout_trace_id,
            job_id,
            session_id,
            session_url,
        } => Json(json!({
            "ok": true,
            "checkout_trace_id": checkout_trace_id,
            "order_id": order_id,
            "job_id": job_id,
            "pay": { "session_url": session_url, "session_id": session_id },
        }))
        .into_response(),
        CheckoutOutcome::Processing {
            order_id,
            checkout_trace_id,
        } => (
            StatusCode::ACCEPTED,
            Json(json!({
                "ok": true,
                "checkout_trace_id": checkout_trace_id,
                "order_id": order_id,
                "status": "processing",
                "status_url": format!("/api/orders/{order_id}"),
            })),
        )
            .into_response(),
        CheckoutOutcome::Failed {
            order_id,
            checkout_trace_id,
            reason,
        } => ApiError::Unprocessable {
            code: "payment_setup_failed",
            message: reason,
            extra: json!({
                "checkout_trace_id": checkout_trace_id,
                "order_id": order_id,
                "status": "failed",
                "status_url": format!("/api/orders/{order_id}"),
            }),
        }
        .into_response(),
    })
}
