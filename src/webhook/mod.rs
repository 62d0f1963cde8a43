//! Layer 2: Stripe's `checkout.session.*` events. Stripe delivers at least once, in any
//! order, for days. Each event is verified, recorded once in the same transaction as its
//! effects, and applied through `payments::apply_session`, the function the reconciler uses.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use stripe_webhook::{EventObject, Webhook};

use crate::{
    orders::transition::PaymentEvent,
    payments::{self, ApplyError, SessionFacts},
};

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

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This event id was recorded before: nothing changed.
    Duplicate,
    /// A type we do not act on: recorded, no effect.
    Ignored,
    /// Applied to its order (which may have been unchanged, e.g. a late `expired`).
    Applied(payments::Applied),
    /// The session names no order and has no customer email: recorded and logged for a human.
    Unattributable,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Applied(a) if a.changed.is_some() => "applied",
            Outcome::Applied(_) => "no_change",
            Outcome::Unattributable => "unattributable",
        }
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

/// Where an event came from (`h2s_stripe_events.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Webhook,
    EventsApi,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::EventsApi => "events_api",
        }
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
        let payment = session_facts_from_json(&event["data"]["object"]).and_then(|facts| {
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

fn session_facts_from_json(o: &serde_json::Value) -> Option<SessionFacts> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let details = &o["customer_details"];
    Some(SessionFacts {
        session_id: o["id"].as_str()?.to_owned(),
        url: text(&o["url"]),
        status: o["status"].as_str().and_then(|s| s.parse().ok()),
        payment_status: o["payment_status"].as_str()?.parse().ok()?,
        client_reference_id: text(&o["client_reference_id"]),
        metadata: o["metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        amount_total: o["amount_total"].as_i64(),
        currency: text(&o["currency"]),
        customer_email: text(&details["email"]).or_else(|| text(&o["customer_email"])),
        customer_name: text(&details["name"]),
        customer_phone: text(&details["phone"]),
        expires_at: o["expires_at"].as_i64(),
    })
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

/// Why an event could not be applied (the delivery is answered 5xx and Stripe retries it).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Job(crate::dispatch::EnsureJobError),
}

/// Records the event once and applies it, in one transaction: the one path of every Stripe
/// event, delivered by the webhook or listed by the sweep. An event id already recorded (by
/// either) is a `Duplicate` and changes nothing.
#[tracing::instrument(skip_all, fields(
    event_id = %event.id,
    event_type = %event.event_type,
    source = source.as_str(),
    checkout_trace_id = event.checkout_trace_id().map(tracing::field::display),
))]
pub async fn handle(
    pool: &PgPool,
    event: &StripeEvent,
    source: Source,
) -> Result<Outcome, HandleError> {
    let mut tx = pool.begin().await?;
    // Insert first: a repeat delivery, even a concurrent one, waits on this row and then
    // finds it, so an event has its effect once.
    let fresh = sqlx::query(
        r#"
        INSERT INTO h2s_stripe_events (event_id, event_type, outcome, source)
        VALUES ($1, $2, 'received', $3)
        ON CONFLICT (event_id) DO NOTHING
        "#,
    )
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(source.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let outcome = match &event.payment {
        None => Outcome::Ignored,
        Some((payment_event, facts)) => {
            match payments::apply_session(&mut tx, facts, *payment_event).await {
                Ok(applied) => Outcome::Applied(applied),
                Err(ApplyError::Unattributable) => {
                    tracing::error!(session_id = %facts.session_id, "a session names no order and has no email; needs a human");
                    Outcome::Unattributable
                }
                Err(ApplyError::Database(e)) => return Err(e.into()),
                Err(ApplyError::Job(e)) => return Err(HandleError::Job(e)),
            }
        }
    };
    let order_id = match &outcome {
        Outcome::Applied(a) => Some(a.order_id.as_str().to_owned()),
        _ => None,
    };
    sqlx::query(r#"UPDATE h2s_stripe_events SET outcome = $2, order_id = $3 WHERE event_id = $1"#)
        .bind(&event.id)
        .bind(outcome.label())
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_listed_event_of_another_api_version_is_read_from_the_fields_used_only() {
        // No api_version, no livemode, a session missing most fields and carrying unknown
        // ones: what an account pinned to an old (or a future) version may list.
        let event = json!({
            "id": "evt_old",
            "type": "checkout.session.completed",
            "created": 1_700_000_000,
            "data": {"object": {
                "id": "cs_old",
                "object": "checkout.session",
                "payment_status": "paid",
                "status": "complete",
                "metadata": {"order_id": "ORD-OLD", "count": 3},
                "customer_details": {"email": "old@example.com"},
                "display_items": [{"legacy": true}],
                "a_field_from_the_future": {"x": 1}
            }}
        });
        let parsed = StripeEvent::from_json(&event).expect("parsed");
        assert_eq!(
            (parsed.id.as_str(), parsed.created),
            ("evt_old", 1_700_000_000)
        );
        let (payment, facts) = parsed.payment.expect("a payment event");
        assert_eq!(payment, PaymentEvent::CompletedPaid);
        assert_eq!(facts.session_id, "cs_old");
        assert_eq!(
            facts.metadata.get("order_id").map(String::as_str),
            Some("ORD-OLD")
        );
        assert_eq!(facts.customer_email.as_deref(), Some("old@example.com"));
        assert_eq!(facts.amount_total, None);
    }

    #[test]
    fn other_types_are_kept_without_a_payment_and_an_event_without_an_id_is_refused() {
        let other = json!({"id": "evt_1", "type": "charge.refunded", "data": {"object": {}}});
        let parsed = StripeEvent::from_json(&other).expect("parsed");
        assert!(parsed.payment.is_none());
        assert!(StripeEvent::from_json(&json!({"type": "checkout.session.expired"})).is_none());
    }
}
