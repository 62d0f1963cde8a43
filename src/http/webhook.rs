use super::{
    ApiError, AppState,
    openapi::schemas::{ErrorBody, WebhookAck},
};
use crate::{
    payments::handle_event::{self, Outcome, Source},
    stripe::events::{self, Refused},
};
use axum::{Json, body::Bytes, extract::State, http::HeaderMap};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// `POST /api/stripe-webhook`: the raw body's signature is checked, the event read (any API
/// version), then recorded and applied once. A signed event that cannot be used is answered
/// 200 (`unusable`): Stripe's redeliveries would carry the same object.
#[utoipa::path(post, path = "/api/stripe-webhook", tag = "stripe", operation_id = "receive_stripe_event",
    params(("Stripe-Signature" = String, Header, description = "checked with a 300 s tolerance")),
    request_body(content = Object, description = "a Stripe event, any API version"),
    responses(
        (status = 200, description = "recorded (or a repeat, a type not acted on, or unusable: signed but lacking a needed field, an operator alerted)", body = WebhookAck),
        (status = 400, description = "bad or stale signature, or a signed body that is no event: nothing written", body = ErrorBody),
        (status = 503, description = "no webhook secret configured (not_configured), the database unreachable or read-only, or the request ran past its time limit", body = ErrorBody),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let Some(secret) = &state.webhook.secrets else {
        return Err(ApiError::NotConfigured(
            "STRIPE_WEBHOOK_SECRET is not set".into(),
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    // The signature first, over the raw bytes; then the one reader every event goes through.
    let event = events::read_delivery(&body, signature, secret, now).map_err(|e| {
        tracing::warn!(reason = %e, "webhook rejected");
        match e {
            Refused::Signature(_) => {
                crate::metrics::webhook_signature_failure();
                ApiError::invalid("Stripe-Signature", format!("webhook rejected: {e}"))
            }
            Refused::NotAnEvent => {
                crate::metrics::webhook_event("unparsable", "rejected");
                ApiError::BadRequest(format!("webhook rejected: {e}"))
            }
        }
    })?;
    if let Some(id) = event.checkout_trace_id() {
        super::request_trace::record_checkout_trace_id(id);
    }
    let outcome =
        handle_event::handle(&state.commits, &event, Source::Webhook, state.webhook.mode).await?;
    crate::metrics::webhook_event(&event.event_type, outcome.label());
    Ok(Json(WebhookAck {
        ok: true,
        received: event.id.clone(),
        outcome: outcome.label().to_owned(),
        order_id: match &outcome {
            Outcome::Applied(applied) => Some(applied.order_id.to_string()),
            _ => None,
        },
    }))
}
