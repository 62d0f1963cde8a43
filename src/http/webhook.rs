use axum::{Json, body::Bytes, extract::State, http::HeaderMap};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::webhook::{self, Outcome};

/// `POST /api/stripe-webhook`: the raw body is verified, then recorded and applied once.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = &state.webhook_secret else {
        return Err(ApiError::NotConfigured(
            "STRIPE_WEBHOOK_SECRET is not set".into(),
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let event = webhook::verify(&body, signature, secret).map_err(|e| {
        tracing::warn!(reason = %e, "webhook rejected");
        if e.is_about_the_body() {
            crate::metrics::webhook_event("unparsable", "rejected");
            ApiError::BadRequest(format!("webhook rejected: {e}"))
        } else {
            crate::metrics::webhook_signature_failure();
            ApiError::invalid("Stripe-Signature", format!("webhook rejected: {e}"))
        }
    })?;
    let event = webhook::StripeEvent::from(&event);
    if let Some(id) = event.checkout_trace_id() {
        super::request_trace::record_checkout_trace_id(id);
    }
    let outcome = webhook::handle(
        &state.pool,
        &event,
        webhook::Source::Webhook,
        state.checkouts.max_attempts,
    )
    .await?;
    crate::metrics::webhook_event(&event.event_type, outcome.label());
    let mut body = json!({ "ok": true, "received": event.id, "outcome": outcome.label() });
    if let Outcome::Applied(applied) = &outcome {
        body["order_id"] = json!(applied.order_id);
    }
    Ok(Json(body))
}
