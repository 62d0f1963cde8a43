//! Stripe's events as this system reads them, wherever they came from: a webhook delivery
//! (its signature checked first, on the raw body, by [`super::signature`]) or an event the
//! sweep listed from the Events API. Both are read by one reader, [`StripeEvent::from_json`],
//! which reads only the fields of [`super::fields::READ`]: any API version is accepted. What
//! an event does to its order is the payments domain's (`payments::handle_event`).

use super::{
    fields::Missing,
    money_facts::MoneyFacts,
    session_facts::SessionFacts,
    signature::{self, SignatureError},
    webhook_secrets::WebhookSecrets,
};
use crate::orders::transition::PaymentEvent;

/// Why a delivery was refused (answered 400; nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("signature verification failed: {0}")]
    Signature(#[from] SignatureError),
    /// Signed, but not an event at all: no JSON object with an `id` and a `type` (nothing to
    /// record it under).
    #[error("the signed body is not an event with an id and a type")]
    NotAnEvent,
}

/// A webhook delivery: the signature checked over the raw body (every secret, 300 s
/// tolerance, at `now`), then the event read as every event is.
pub fn read_delivery(
    body: &[u8],
    signature: Option<&str>,
    secrets: &WebhookSecrets,
    now: i64,
) -> Result<StripeEvent, Refused> {
    signature::verify(body, signature, secrets, now)?;
    StripeEvent::from_body(body).ok_or(Refused::NotAnEvent)
}

/// A Stripe event as this system uses it, wherever it came from: the webhook (verified by
/// the signature checked) or the sweep's read of the Events API, both read by [`StripeEvent::from_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A type acted on whose object lacks a field needed to act (no `payment_intent` on a
    /// dispute, say): recorded as `unusable`, never applied, never a signature failure.
    pub unusable: Option<Missing>,
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
    /// version: only the fields of [`super::fields::READ`] are read, anything else (unknown,
    /// missing, of another type) is never looked at. `None` when even the id or the type is
    /// missing.
    pub fn from_json(event: &serde_json::Value) -> Option<Self> {
        let id = event["id"].as_str()?.to_owned();
        let event_type = event["type"].as_str()?.to_owned();
        let object = &event["data"]["object"];
        let (payment, money, unusable) =
            match read_object(&event_type, object, event["api_version"].as_str()) {
                Ok(Facts::Payment(payment_event, facts)) => {
                    (Some((payment_event, *facts)), None, None)
                }
                Ok(Facts::Money(facts)) => (None, Some(facts), None),
                Ok(Facts::NotActedOn) => (None, None, None),
                Err(missing) => (None, None, Some(missing)),
            };
        Some(StripeEvent {
            id,
            event_type,
            created: event["created"].as_i64().unwrap_or_default(),
            payment,
            money,
            livemode: event["livemode"].as_bool(),
            unusable,
        })
    }

    /// A verified webhook body, read as the Events API's events are (one reading of events).
    pub fn from_body(body: &[u8]) -> Option<Self> {
        Self::from_json(&serde_json::from_slice(body).ok()?)
    }
}

/// The event types this system acts on, the one list: the reader reads no other type's
/// object, and the sweep lists exactly these (`reconcile::event_catchup::TYPES`). A new type
/// is an entry here and its reading below; `every_listed_type_and_no_other_is_acted_on`
/// (in `tests.rs`) fails on an entry the reader does not act on.
pub const ACTED_ON: [&str; 15] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.closed",
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "charge.captured",
    "charge.expired",
];

/// What an event's object says, by the event's type.
enum Facts {
    Payment(PaymentEvent, Box<SessionFacts>),
    Money(MoneyFacts),
    NotActedOn,
}

/// The object of an event of type `event_type`, read for what that type does in the event's
/// `api_version`.
fn read_object(
    event_type: &str,
    object: &serde_json::Value,
    api_version: Option<&str>,
) -> Result<Facts, Missing> {
    if !ACTED_ON.contains(&event_type) {
        return Ok(Facts::NotActedOn);
    }
    let payment_event = match event_type {
        "checkout.session.completed" => None,
        "checkout.session.async_payment_succeeded" => Some(PaymentEvent::AsyncSucceeded),
        "checkout.session.async_payment_failed" => Some(PaymentEvent::AsyncFailed),
        "checkout.session.expired" => Some(PaymentEvent::Expired),
        _ => {
            return Ok(
                match MoneyFacts::read_in(event_type, object, api_version)? {
                    Some(facts) => Facts::Money(facts),
                    None => Facts::NotActedOn,
                },
            );
        }
    };
    let facts = SessionFacts::read(object)?;
    let payment_event = match payment_event {
        Some(e) => e,
        None => facts.completed_event()?,
    };
    Ok(Facts::Payment(payment_event, Box::new(facts)))
}

#[cfg(test)]
mod tests;
