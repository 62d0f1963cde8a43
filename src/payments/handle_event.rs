//! Every Stripe event, delivered by the webhook or listed by the sweep, goes through
//! [`handle`]: recorded once (by event id) in the transaction that applies it through
//! [`super::apply::apply_session`] (sessions) or [`super::money::apply_money`] (refunds,
//! disputes), so an event has its effect once whichever way it came.

use sqlx::{Postgres, Transaction};

use super::{
    apply,
    error::ApplyError,
    money::{self, MoneyOutcome},
};
use crate::{
    alerts::{self, AlertKind},
    queue::Commits,
    stripe::{StripeMode, events::StripeEvent, fields::Missing},
};

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This event id was recorded before: nothing changed.
    Duplicate,
    /// A type we do not act on: recorded, no effect.
    Ignored,
    /// Applied to its order (which may have been unchanged, e.g. a late `expired`).
    Applied(apply::Applied),
    /// The session names no order and has no customer email: recorded and logged for a human.
    Unattributable,
    /// A refund or dispute for a PaymentIntent no order has yet: kept, and applied when the
    /// session that names it arrives.
    Parked,
    /// A live-mode event where test mode is served, or the reverse: recorded, no effect.
    ModeMismatch,
    /// Correctly signed, of a type acted on, but its object lacks a field needed to act (a
    /// dispute without `payment_intent`, say): recorded, no effect, an operator alerted.
    /// Answered 2xx: Stripe's redeliveries would carry the same object.
    Unusable(Missing),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Applied(a) if a.changed.is_some() => "applied",
            Outcome::Applied(_) => "no_change",
            Outcome::Unattributable => "unattributable",
            Outcome::Parked => "parked",
            Outcome::ModeMismatch => "ignored_mode_mismatch",
            Outcome::Unusable(_) => "unusable",
        }
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
/// either) is a `Duplicate` and changes nothing; one of the other Stripe mode than `served`
/// (`livemode` differs) is recorded as `ignored_mode_mismatch` and changes nothing.
#[tracing::instrument(skip_all, fields(
    event_id = %event.id,
    event_type = %event.event_type,
    source = source.as_str(),
    checkout_trace_id = event.checkout_trace_id().map(tracing::field::display),
))]
pub async fn handle(
    commits: &Commits,
    event: &StripeEvent,
    source: Source,
    served: Option<StripeMode>,
) -> Result<Outcome, HandleError> {
    let mut tx = commits.begin().await?;
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
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let mismatch = matches!(
        (served, event.livemode),
        (Some(mode), Some(live)) if mode.is_live() != live
    );
    let outcome = if mismatch {
        tracing::warn!(livemode = ?event.livemode, "an event of the other Stripe mode: ignored");
        Outcome::ModeMismatch
    } else if let Some(missing) = event.unusable {
        unusable(&mut tx, event, missing).await?
    } else {
        match apply(&mut tx, event).await {
            Err(ApplyError::Database(e)) => return Err(e.into()),
            Err(ApplyError::Job(e)) => return Err(HandleError::Job(e)),
            Err(ApplyError::Unattributable) => Outcome::Unattributable,
            Ok(outcome) => outcome,
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
        .execute(&mut **tx)
        .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// A signed event this system cannot act on: one log line (its id, type and the missing
/// field; never the payload) and an operator alert under its event id.
async fn unusable(
    tx: &mut Transaction<'_, Postgres>,
    event: &StripeEvent,
    missing: Missing,
) -> Result<Outcome, sqlx::Error> {
    tracing::warn!(
        event_id = %event.id,
        event_type = %event.event_type,
        %missing,
        "a signed Stripe event lacks a field needed to act on it: recorded as unusable, operator alerted"
    );
    let detail = format!("{} {}: no usable `{missing}`", event.event_type, event.id);
    alerts::raise_for_event(tx, &event.id, AlertKind::UnusableEvent, &detail).await?;
    Ok(Outcome::Unusable(missing))
}

/// The event's effect, inside the transaction that recorded it.
async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    event: &StripeEvent,
) -> Result<Outcome, ApplyError> {
    if let Some((payment_event, facts)) = &event.payment {
        return match apply::apply_session(tx, facts, *payment_event).await {
            Err(ApplyError::Unattributable) => {
                tracing::error!(session_id = %facts.session_id, "a session names no order and has no email; needs a human");
                Err(ApplyError::Unattributable)
            }
            other => other.map(Outcome::Applied),
        };
    }
    let Some(facts) = &event.money else {
        return Ok(Outcome::Ignored);
    };
    Ok(
        match money::apply_money(tx, &event.id, event.created, facts).await? {
            MoneyOutcome::Parked => Outcome::Parked,
            MoneyOutcome::Applied { order_id, changed } => Outcome::Applied(apply::Applied {
                order_id,
                created: false,
                changed,
            }),
        },
    )
}
