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
}

/// The status after `event`, or `None` when the event changes nothing. Events come in any
/// order and more than once: `refunded` and `dispute_lost` are terminal (the money went back,
/// whatever arrives late); a dispute holds the order in `disputed` until it closes, won (back
/// to `paid`) or lost; otherwise nothing leaves `paid`, and the unpaid terminal statuses only
/// move to `paid` (money that arrived is never ignored). A refund or a dispute seen before
/// the payment itself ends where it would after it: the money's later fate wins.
pub fn next(current: OrderStatus, event: PaymentEvent) -> Option<OrderStatus> {
    use OrderStatus as S;
    use PaymentEvent as E;
    let to = match (current, event) {
        (S::Refunded | S::DisputeLost, _) => return None,
        (_, E::Refunded) => S::Refunded,
        (_, E::DisputeLost) => S::DisputeLost,
        (S::Disputed, E::DisputeWon) => S::Paid,
        (S::Disputed, _) => return None,
        (_, E::DisputeOpened) => S::Disputed,
        (S::Paid, _) => return None,
        (_, E::CompletedPaid | E::AsyncSucceeded | E::DisputeWon) => S::Paid,
        (S::PendingPayment, E::CompletedUnpaid) => S::AwaitingPayment,
        (S::PendingPayment | S::AwaitingPayment, E::AsyncFailed) => S::PaymentFailed,
        (S::PendingPayment | S::AwaitingPayment, E::Expired) => S::Expired,
        (S::PendingPayment, E::SessionRejected) => S::Failed,
        _ => return None,
    };
    (to != current).then_some(to)
}

/// What the feed tells of an order's move to `to` by `event`: the payment, the full refund,
/// and the dispute's opening and close; the unpaid statuses are told by the job's events.
pub fn told(event: PaymentEvent, to: OrderStatus) -> Option<Event> {
    use OrderStatus as S;
    Some(match (event, to) {
        (_, S::Refunded) => Event::OrderRefunded,
        (_, S::Disputed) => Event::DisputeOpened,
        (_, S::DisputeLost) => Event::DisputeClosed(DisputeOutcome::Lost),
        (PaymentEvent::DisputeWon, S::Paid) => Event::DisputeClosed(DisputeOutcome::Won),
        (_, S::Paid) => Event::OrderPaid,
        _ => return None,
    })
}

/// Amount details that come with a payment.
#[derive(Debug, Clone, Default)]
pub struct Amounts {
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
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
    if let Some(event) = told(event, to) {
        events::record(tx, order_id, event).await?;
    }
    tracing::info!(order_id = %order_id, from = current.as_str(), to = to.as_str(), "order status changed");
    Ok(Some((current, to)))
}

#[cfg(test)]
mod tests {
    use super::{OrderStatus::*, PaymentEvent, next};
    use PaymentEvent::{
        AsyncFailed, AsyncSucceeded, CompletedPaid, CompletedUnpaid, SessionRejected,
    };

    const ALL_EVENTS: [PaymentEvent; 10] = [
        CompletedPaid,
        CompletedUnpaid,
        AsyncSucceeded,
        AsyncFailed,
        PaymentEvent::Expired,
        SessionRejected,
        PaymentEvent::Refunded,
        PaymentEvent::DisputeOpened,
        PaymentEvent::DisputeWon,
        PaymentEvent::DisputeLost,
    ];

    #[test]
    fn refunded_and_dispute_lost_are_terminal() {
        for terminal in [Refunded, DisputeLost] {
            for e in ALL_EVENTS {
                assert_eq!(next(terminal, e), None, "{terminal:?} on {e:?}");
            }
        }
    }

    #[test]
    fn a_refund_seen_before_the_payment_still_ends_refunded() {
        let refunded = next(PendingPayment, PaymentEvent::Refunded);
        assert_eq!(refunded, Some(Refunded));
        assert_eq!(next(Refunded, CompletedPaid), None);
        assert_eq!(next(Refunded, AsyncSucceeded), None);
    }

    #[test]
    fn a_dispute_holds_the_order_until_it_closes() {
        assert_eq!(next(Paid, PaymentEvent::DisputeOpened), Some(Disputed));
        for late in [
            CompletedPaid,
            AsyncSucceeded,
            PaymentEvent::Expired,
            AsyncFailed,
        ] {
            assert_eq!(next(Disputed, late), None);
        }
        assert_eq!(next(Disputed, PaymentEvent::DisputeWon), Some(Paid));
        assert_eq!(next(Disputed, PaymentEvent::DisputeLost), Some(DisputeLost));
        assert_eq!(next(Disputed, PaymentEvent::Refunded), Some(Refunded));
        // A close seen before its dispute's creation: the close decides.
        assert_eq!(next(Paid, PaymentEvent::DisputeWon), None);
        assert_eq!(next(Paid, PaymentEvent::DisputeLost), Some(DisputeLost));
        assert_eq!(next(PendingPayment, PaymentEvent::DisputeWon), Some(Paid));
    }

    #[test]
    fn a_paid_order_is_never_downgraded_by_a_session_event() {
        // The session's events: the first six.
        for e in &ALL_EVENTS[..6] {
            assert_eq!(next(Paid, *e), None);
        }
    }

    #[test]
    fn the_feed_tells_the_payment_the_full_refund_and_the_dispute_and_nothing_unpaid() {
        use super::told;
        use crate::events::{DisputeOutcome::*, Event};
        assert_eq!(told(CompletedPaid, Paid), Some(Event::OrderPaid));
        assert_eq!(told(AsyncSucceeded, Paid), Some(Event::OrderPaid));
        assert_eq!(
            told(PaymentEvent::Refunded, Refunded),
            Some(Event::OrderRefunded)
        );
        assert_eq!(
            told(PaymentEvent::DisputeOpened, Disputed),
            Some(Event::DisputeOpened)
        );
        let won = told(PaymentEvent::DisputeWon, Paid);
        assert_eq!(won, Some(Event::DisputeClosed(Won)));
        let lost = told(PaymentEvent::DisputeLost, DisputeLost);
        assert_eq!(lost, Some(Event::DisputeClosed(Lost)));
        for (event, to) in [
            (CompletedUnpaid, AwaitingPayment),
            (AsyncFailed, PaymentFailed),
            (PaymentEvent::Expired, Expired),
            (SessionRejected, Failed),
        ] {
            assert_eq!(told(event, to), None, "{event:?}");
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
