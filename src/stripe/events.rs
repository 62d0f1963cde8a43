//! Stripe's events as this system reads them: a webhook delivery verified against its
//! signature and parsed, or an event the sweep listed from the Events API. What an event does
//! to its order is the payments domain's (`payments::handle_event`).

use secrecy::ExposeSecret;
use stripe_webhook::Webhook;

use super::{
    money_facts::MoneyFacts, session_facts::SessionFacts, webhook_secrets::WebhookSecrets,
};
use crate::orders::transition::PaymentEvent;

/// Why a delivery was refused (answered 400; nothing written).
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("missing Stripe-Signature header")]
    MissingSignature,
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("signature verification failed: {0}")]
    Verification(stripe_webhook::WebhookError),
}

impl Rejected {
    /// The body is at fault (not UTF-8, not an event), rather than the signature.
    pub fn is_about_the_body(&self) -> bool {
        matches!(
            self,
            Rejected::NotUtf8 | Rejected::Verification(stripe_webhook::WebhookError::BadParse(_))
        )
    }
}

/// Verifies the signature (300 s tolerance) over the raw body under each secret in turn (a
/// rotation has two) and parses the event. Refused if no secret signs it; a stale timestamp
/// is refused under every secret.
pub fn verify(
    body: &[u8],
    signature: Option<&str>,
    secrets: &WebhookSecrets,
) -> Result<stripe_webhook::Event, Rejected> {
    let signature = signature.ok_or(Rejected::MissingSignature)?;
    let payload = std::str::from_utf8(body).map_err(|_| Rejected::NotUtf8)?;
    let mut refused = None;
    for secret in secrets.iter() {
        match Webhook::construct_event(payload, signature, secret.expose_secret()) {
            Ok(event) => return Ok(event),
            // Signed by this secret, but stale or unparsable: no other secret changes that.
            Err(
                e @ (stripe_webhook::WebhookError::BadTimestamp(_)
                | stripe_webhook::WebhookError::BadParse(_)),
            ) => {
                return Err(Rejected::Verification(e));
            }
            Err(e) => refused = Some(e),
        }
    }
    Err(Rejected::Verification(
        refused.expect("WebhookSecrets holds at least one secret"),
    ))
}

/// A Stripe event as this system uses it, wherever it came from: the webhook (verified by
/// async-stripe) or the sweep's read of the Events API, both read by [`StripeEvent::from_json`].
#[derive(Debug, Clone)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    /// Unix seconds (Stripe's clock).
    pub created: i64,
    /// The payment event and its session, for the `checkout.session.*` types we act on.
    pub payment: Option<(PaymentEvent, SessionFacts)>,
    /// A refund or a dispute, for the `charge.*` and `refund.*` types we act on.
    pub money: Option<MoneyFacts>,
    /// Stripe's `livemode` (absent from some old API versions' listed events).
    pub livemode: Option<bool>,
}

impl StripeEvent {
    /// The trace id the checkout put in its session's metadata, for the logs.
    pub fn checkout_trace_id(&self) -> Option<uuid::Uuid> {
        let (_, facts) = self.payment.as_ref()?;
        uuid::Uuid::parse_str(facts.metadata.get("checkout_trace_id")?).ok()
    }
}

impl StripeEvent {
    /// An event object as the Events API lists it or the webhook receives it, of any API
    /// version: only the fields used are read (`id`, `type`, `created`, of the session `id`,
    /// `status`, `payment_status`, `metadata`, `client_reference_id`, `payment_intent`,
    /// amounts and customer details, of a charge, refund or dispute those of [`MoneyFacts`]).
    /// `None` when even the id or the type is missing.
    pub fn from_json(event: &serde_json::Value) -> Option<Self> {
        let id = event["id"].as_str()?.to_owned();
        let event_type = event["type"].as_str()?.to_owned();
        let created = event["created"].as_i64().unwrap_or_default();
        let payment = SessionFacts::from_json(&event["data"]["object"]).and_then(|facts| {
            let payment_event = match event_type.as_str() {
                "checkout.session.completed" => facts.completed_event(),
                "checkout.session.async_payment_succeeded" => PaymentEvent::AsyncSucceeded,
                "checkout.session.async_payment_failed" => PaymentEvent::AsyncFailed,
                "checkout.session.expired" => PaymentEvent::Expired,
                _ => return None,
            };
            Some((payment_event, facts))
        });
        let money = MoneyFacts::from_json(&event_type, &event["data"]["object"]);
        Some(StripeEvent {
            id,
            event_type,
            created,
            payment,
            money,
            livemode: event["livemode"].as_bool(),
        })
    }

    /// A verified webhook body, read as the Events API's events are (one reading of events).
    pub fn from_body(body: &[u8]) -> Option<Self> {
        Self::from_json(&serde_json::from_slice(body).ok()?)
    }
}

#[cfg(test)]
mod tests;
