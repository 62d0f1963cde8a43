//! Stripe's events as this system reads them: a webhook delivery verified against its
//! signature and parsed, or an event the sweep listed from the Events API. What an event does
//! to its order is the payments domain's (`payments::handle_event`).

use secrecy::{ExposeSecret, SecretString};
use stripe_webhook::{EventObject, Webhook};

use super::session_facts::SessionFacts;
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

/// Verifies the signature (300 s tolerance) over the raw body and parses the event.
pub fn verify(
    body: &[u8],
    signature: Option<&str>,
    secret: &SecretString,
) -> Result<stripe_webhook::Event, Rejected> {
    let signature = signature.ok_or(Rejected::MissingSignature)?;
    let payload = std::str::from_utf8(body).map_err(|_| Rejected::NotUtf8)?;
    Webhook::construct_event(payload, signature, secret.expose_secret())
        .map_err(Rejected::Verification)
}

/// A Stripe event as this system uses it, wherever it came from: the webhook (verified, then
/// parsed by async-stripe) or the sweep's read of the Events API (parsed leniently).
#[derive(Debug, Clone)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    /// Unix seconds (Stripe's clock).
    pub created: i64,
    /// The payment event and its session, for the `checkout.session.*` types we act on.
    pub payment: Option<(PaymentEvent, SessionFacts)>,
}

impl StripeEvent {
    /// The trace id the checkout put in its session's metadata, for the logs.
    pub fn checkout_trace_id(&self) -> Option<uuid::Uuid> {
        let (_, facts) = self.payment.as_ref()?;
        uuid::Uuid::parse_str(facts.metadata.get("checkout_trace_id")?).ok()
    }
}

impl From<&stripe_webhook::Event> for StripeEvent {
    fn from(event: &stripe_webhook::Event) -> Self {
        StripeEvent {
            id: event.id.as_str().to_owned(),
            event_type: event.type_.to_string(),
            created: event.created,
            payment: classify(&event.data.object),
        }
    }
}

impl StripeEvent {
    /// An event object as the Events API lists it, of any API version: only the fields used
    /// are read (`id`, `type`, `created`, and of the session `id`, `status`,
    /// `payment_status`, `metadata`, `client_reference_id`, amounts and customer details).
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
        Some(StripeEvent {
            id,
            event_type,
            created,
            payment,
        })
    }
}

/// The payment event a Stripe event stands for, with its session; `None` for other types.
fn classify(object: &EventObject) -> Option<(PaymentEvent, SessionFacts)> {
    Some(match object {
        EventObject::CheckoutSessionCompleted(s) => {
            let facts = SessionFacts::from(&**s);
            (facts.completed_event(), facts)
        }
        EventObject::CheckoutSessionAsyncPaymentSucceeded(s) => {
            (PaymentEvent::AsyncSucceeded, SessionFacts::from(&**s))
        }
        EventObject::CheckoutSessionAsyncPaymentFailed(s) => {
            (PaymentEvent::AsyncFailed, SessionFacts::from(&**s))
        }
        EventObject::CheckoutSessionExpired(s) => (PaymentEvent::Expired, SessionFacts::from(&**s)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
