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

/// Records the event once and applies it, in one transaction.
#[tracing::instrument(skip_all, fields(event_id = %event.id.as_str(), event_type = %event.type_))]
pub async fn handle(
    pool: &PgPool,
    event: &stripe_webhook::Event,
    max_attempts: i32,
) -> Result<Outcome, sqlx::Error> {
    let event_type = event.type_.to_string();
    let mut tx = pool.begin().await?;
    // Insert first: a repeat delivery, even a concurrent one, waits on this row and then
    // finds it, so an event has its effect once.
    let fresh = sqlx::query(
        r#"
        INSERT INTO h2s_stripe_events (event_id, event_type, outcome)
        VALUES ($1, $2, 'received')
        ON CONFLICT (event_id) DO NOTHING
        "#,
    )
    .bind(event.id.as_str())
    .bind(&event_type)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let outcome = match classify(&event.data.object) {
        None => Outcome::Ignored,
        Some((payment_event, facts)) => {
            match payments::apply_session(&mut tx, &facts, payment_event, max_attempts).await {
                Ok(applied) => Outcome::Applied(applied),
                Err(ApplyError::Unattributable) => {
                    tracing::error!(session_id = %facts.session_id, "a session names no order and has no email; needs a human");
                    Outcome::Unattributable
                }
                Err(ApplyError::Database(e)) => return Err(e),
            }
        }
    };
    let order_id = match &outcome {
        Outcome::Applied(a) => Some(a.order_id.as_str().to_owned()),
        _ => None,
    };
    sqlx::query(r#"UPDATE h2s_stripe_events SET outcome = $2, order_id = $3 WHERE event_id = $1"#)
        .bind(event.id.as_str())
        .bind(outcome.label())
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(outcome)
}
