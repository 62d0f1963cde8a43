//! The one place that decides, and writes, an order's next payment status.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::{OrderId, OrderStatus};
use crate::stored::Stored;

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
}

/// The status after `event`, or `None` when the event changes nothing. Events come in any
/// order and more than once: nothing ever leaves `paid`, and the terminal statuses only move
/// to `paid` (money that arrived is never ignored).
pub fn next(current: OrderStatus, event: PaymentEvent) -> Option<OrderStatus> {
    use OrderStatus as S;
    use PaymentEvent as E;
    let to = match (current, event) {
        (S::Paid, _) => return None,
        (_, E::CompletedPaid | E::AsyncSucceeded) => S::Paid,
        (S::PendingPayment, E::CompletedUnpaid) => S::AwaitingPayment,
        (S::PendingPayment | S::AwaitingPayment, E::AsyncFailed) => S::PaymentFailed,
        (S::PendingPayment | S::AwaitingPayment, E::Expired) => S::Expired,
        (S::PendingPayment, E::SessionRejected) => S::Failed,
        _ => return None,
    };
    (to != current).then_some(to)
}

/// Amount details that come with a payment.
#[derive(Debug, Clone, Default)]
pub struct Amounts {
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
}

/// Applies `event` to the order under a row lock. Returns `(before, after)` when the status
/// changed, `None` when the event was a no-op or the order does not exist.
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
    .execute(&mut **tx)
    .await?;
    tracing::info!(order_id = %order_id, from = current.as_str(), to = to.as_str(), "order status changed");
    Ok(Some((current, to)))
}

#[cfg(test)]
mod tests {
    use super::{OrderStatus::*, PaymentEvent, next};
    use PaymentEvent::{
        AsyncFailed, AsyncSucceeded, CompletedPaid, CompletedUnpaid, SessionRejected,
    };

    #[test]
    fn a_paid_order_is_never_downgraded() {
        for e in [
            CompletedPaid,
            CompletedUnpaid,
            AsyncSucceeded,
            AsyncFailed,
            PaymentEvent::Expired,
            SessionRejected,
        ] {
            assert_eq!(next(Paid, e), None);
        }
    }

    #[test]
    fn the_documented_transitions_hold() {
        assert_eq!(next(PendingPayment, CompletedPaid), Some(Paid));
        assert_eq!(next(PendingPayment, CompletedUnpaid), Some(AwaitingPayment));
        assert_eq!(next(AwaitingPayment, AsyncSucceeded), Some(Paid));
        assert_eq!(next(AwaitingPayment, AsyncFailed), Some(PaymentFailed));
        assert_eq!(next(PendingPayment, PaymentEvent::Expired), Some(Expired));
        assert_eq!(next(AwaitingPayment, CompletedUnpaid), None);
        assert_eq!(next(Expired, PaymentEvent::Expired), None);
        assert_eq!(next(PendingPayment, SessionRejected), Some(Failed));
        assert_eq!(next(Expired, CompletedUnpaid), None);
    }
}
