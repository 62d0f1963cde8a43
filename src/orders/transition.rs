//! The one place that decides, and writes, an order's next payment status.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::{OrderId, OrderStatus};
use crate::{
    events::{self, DisputeOutcome, Event},
    stored::Stored,
};

/// Something that happened to an order's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    /// `checkout.session.completed` with `payment_status` paid or no_payment_required.
    CompletedPaid,
    /// `checkout.session.completed` with `payment_status` unpaid (a delayed payment method).
    CompletedUnpaid,
    /// `checkout.session.async_payment_succeeded`.
    AsyncSucceeded,
    /// `checkout.session.async_payment_failed`.
    AsyncFailed,
    /// `checkout.session.expired`.
    Expired,
    /// Stripe refused to create the session (say, an unknown price).
    SessionRejected,
    /// `charge.refunded` / `refund.updated` that refund the whole amount (a partial refund is
    /// recorded as an amount and is no event here).
    Refunded,
    /// `charge.dispute.created`.
    DisputeOpened,
    /// `charge.dispute.closed` with the dispute won (or an inquiry closed with no chargeback).
    DisputeWon,
    /// `charge.dispute.closed` with the dispute lost: the money went back to the customer.
    DisputeLost,
    /// The PaymentIntent of a manual-capture order is `requires_capture`: the money is held
    /// (`payment_intent.amount_capturable_updated`, or the PaymentIntent read after an
    /// `unpaid` completed session).
    Authorized,
    /// The held money was captured (`charge.captured`, `payment_intent.succeeded` of a
    /// manual-capture order, or Stripe's answer to our capture).
    Captured,
    /// The hold was cancelled on request (`payment_intent.canceled` for any reason but a
    /// lapse, or Stripe's answer to our cancel).
    Released,
    /// The hold lapsed (`payment_intent.canceled` with `cancellation_reason` `expired`, or
    /// `automatic` before API version 2025-03-31; `charge.expired`; a capture refused with
    /// `charge_expired_for_capture`; the sweep finding the PaymentIntent canceled so).
    Lapsed,
    /// An operator asked for a new payment link for a lapsed hold: the order waits for its
    /// payment again.
    NewPayLink,
}

/// The status after `event`, or `None` when the event changes nothing. Events come in any
/// order and more than once: `refunded` and `dispute_lost` are terminal (the money went back,
/// whatever arrives late); a dispute holds the order in `disputed` until it closes, won (back
/// to `paid`) or lost; otherwise nothing leaves `paid`, and the unpaid terminal statuses only
/// move to `paid` (money that arrived is never ignored). A refund or a dispute seen before
/// the payment itself ends where it would after it: the money's later fate wins.
///
/// A hold (manual capture): `authorized` moves only to `paid` (captured), `released` or
/// `authorization_expired` (lapsed); those two end the hold, so a late `authorized` never
/// brings it back (a lapsed one is paid again only through a new payment link, whose new
/// PaymentIntent starts at `pending_payment`). A full refund of a hold never captured is an
/// older API version's way of telling the release: no money went back, nothing moves.
pub fn next(current: OrderStatus, event: PaymentEvent) -> Option<OrderStatus> {
    use OrderStatus as S;
    use PaymentEvent as E;
    let held = matches!(
        current,
        S::Authorized | S::Released | S::AuthorizationExpired
    );
    let open = matches!(
        current,
        S::PendingPayment | S::AwaitingPayment | S::Authorized
    );
    let to = match (current, event) {
        (S::Refunded | S::DisputeLost, _) => return None,
        (_, E::Refunded) if held => return None,
        (_, E::Refunded) => S::Refunded,
        (_, E::DisputeLost) => S::DisputeLost,
        (S::Disputed, E::DisputeWon) => S::Paid,
        (S::Disputed, _) => return None,
        (_, E::DisputeOpened) => S::Disputed,
        (S::Paid, _) => return None,
        (_, E::CompletedPaid | E::AsyncSucceeded | E::DisputeWon | E::Captured) => S::Paid,
        (S::AuthorizationExpired, E::NewPayLink) => S::PendingPayment,
        (_, E::Lapsed) if open => S::AuthorizationExpired,
        (_, E::Released) if open => S::Released,
        (S::Authorized | S::Released | S::AuthorizationExpired, _) => return None,
        (_, E::Authorized) => S::Authorized,
        (S::PendingPayment, E::CompletedUnpaid) => S::AwaitingPayment,
        (S::PendingPayment | S::AwaitingPayment, E::AsyncFailed) => S::PaymentFailed,
        (S::PendingPayment | S::AwaitingPayment, E::Expired) => S::Expired,
        (S::PendingPayment, E::SessionRejected) => S::Failed,
        _ => return None,
    };
    (to != current).then_some(to)
}

/// What the feed tells of an order's move to `to` by `event`: the payment (or the hold, its
/// capture, release or lapse), the full refund, and the dispute's opening and close; the
/// unpaid statuses are told by the job's events.
pub fn told(event: PaymentEvent, to: OrderStatus) -> Option<Event> {
    use OrderStatus as S;
    Some(match (event, to) {
        (_, S::Refunded) => Event::OrderRefunded,
        (_, S::Disputed) => Event::DisputeOpened,
        (_, S::DisputeLost) => Event::DisputeClosed(DisputeOutcome::Lost),
        (PaymentEvent::DisputeWon, S::Paid) => Event::DisputeClosed(DisputeOutcome::Won),
        (PaymentEvent::Captured, S::Paid) => Event::OrderCaptured,
        (_, S::Paid) => Event::OrderPaid,
        (_, S::Authorized) => Event::OrderAuthorized,
        (_, S::Released) => Event::OrderReleased,
        (_, S::AuthorizationExpired) => Event::OrderAuthorizationExpired,
        _ => return None,
    })
}

/// Amount details that come with a payment.
#[derive(Debug, Clone, Default)]
pub struct Amounts {
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    /// A hold's amount and end, with [`PaymentEvent::Authorized`].
    pub hold: Option<Hold>,
    /// The amount a capture took, with [`PaymentEvent::Captured`].
    pub captured: Option<i64>,
}

/// What Stripe says of a hold: the amount capturable, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub amount: Option<i64>,
    pub capture_before: Option<DateTime<Utc>>,
    /// `capture_before` is the charge's own (`payment_method_details.card.capture_before`),
    /// not the authorization time plus 7 days: it replaces an estimate, never the reverse.
    pub exact: bool,
}

impl Hold {
    /// How long a hold lasts when the charge does not say (customer-initiated online card
    /// payments).
    pub const DEFAULT_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(7);
}

/// Applies `event` to the order under a row lock, and tells the feed ([`told`]) in the same
/// transaction. Returns `(before, after)` when the status changed, `None` when the event was
/// a no-op or the order does not exist.
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    event: PaymentEvent,
    amounts: &Amounts,
    reason: Option<&str>,
) -> Result<Option<(OrderStatus, OrderStatus)>, sqlx::Error> {
    let current: Option<Stored<OrderStatus>> =
        sqlx::query_scalar(r#"SELECT status FROM h2s_orders WHERE order_id = $1 FOR UPDATE"#)
            .bind(order_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(current) = current.and_then(|s| s.known()) else {
        return Ok(None);
    };
    let Some(to) = next(current, event) else {
        if current == OrderStatus::Authorized {
            // A repeated authorization may know the hold better (the charge's own end).
            record_hold(tx, order_id, amounts.hold).await?;
        }
        return Ok(None);
    };
    let paid_at: Option<DateTime<Utc>> = (to == OrderStatus::Paid).then(Utc::now);
    sqlx::query(
        r#"
        UPDATE h2s_orders
        SET status = $2,
            paid_at = COALESCE(paid_at, $3),
            amount_total = COALESCE($4, amount_total),
            currency = COALESCE($5, currency),
            failure_reason = COALESCE($6, failure_reason),
            amount_captured = COALESCE($7, amount_captured),
            updated_at = now()
        WHERE order_id = $1
        "#,
    )
    .bind(order_id)
    .bind(to.as_str())
    .bind(paid_at)
    .bind(amounts.amount_total)
    .bind(amounts.currency.as_deref())
    .bind(reason)
    .bind(amounts.captured.filter(|_| to == OrderStatus::Paid))
    .execute(&mut **tx)
    .await?;
    if to == OrderStatus::Authorized {
        record_hold(tx, order_id, amounts.hold).await?;
    }
    if let Some(event) = told(event, to) {
        events::record(tx, order_id, event).await?;
    }
    tracing::info!(order_id = %order_id, from = current.as_str(), to = to.as_str(), "order status changed");
    Ok(Some((current, to)))
}

/// Records the hold's amount and end: the exact end replaces an estimate, an estimate only
/// fills a gap (and without any, the authorization time plus [`Hold::DEFAULT_LIFETIME`]).
async fn record_hold(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    hold: Option<Hold>,
) -> Result<(), sqlx::Error> {
    let hold = hold.unwrap_or(Hold {
        amount: None,
        capture_before: None,
        exact: false,
    });
    let estimate = hold
        .capture_before
        .filter(|_| !hold.exact)
        .unwrap_or_else(|| Utc::now() + Hold::DEFAULT_LIFETIME);
    sqlx::query(
        r#"
        UPDATE h2s_orders
        SET amount_capturable = COALESCE($2, amount_capturable, amount_total),
            authorized_at = COALESCE(authorized_at, now()),
            capture_before = CASE
                WHEN $3::timestamptz IS NOT NULL THEN $3
                ELSE COALESCE(capture_before, $4) END,
            capture_before_exact = capture_before_exact OR $3::timestamptz IS NOT NULL
        WHERE order_id = $1
        "#,
    )
    .bind(order_id)
    .bind(hold.amount)
    .bind(hold.capture_before.filter(|_| hold.exact))
    .bind(estimate)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
