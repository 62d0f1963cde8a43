//! What a refund request may do, decided from the order and its job as they are under the
//! order's lock: one pure function, so that every refusal is one fact with its own test.

use super::new::NewRefund;
use crate::{dispatch::JobStatus, orders::OrderStatus, stored::Stored};

/// The order's money, read under its lock.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderMoney {
    pub status: Stored<OrderStatus>,
    /// What Stripe took: the order's total, or what was captured of a held payment (a
    /// partial capture released the rest, which is no one's to refund).
    pub amount_charged: Option<i64>,
    pub amount_refunded: i64,
    /// Requests still `requested`: money that is on its way back.
    pub in_flight: i64,
    pub payment_intent: Option<String>,
}

/// Why a refund request is refused (a 4xx; nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the order was never paid (it is {0})")]
    NotPaid(String),
    #[error("the order's payment is disputed: the dispute decides where the money goes")]
    Disputed,
    #[error("the order's payment is not known to this system (no PaymentIntent stored)")]
    PaymentUnknown,
    #[error("{remaining} cents remain refundable (requests in flight counted)")]
    TooMuch { remaining: i64 },
    #[error(
        "the job is scheduled: refunding in full or cancelling it calls the visit off; \
         send override_dispatched: true to do so"
    )]
    JobScheduled,
    #[error("the job is completed and cannot be cancelled; refund without cancel_job")]
    JobCompleted,
}

/// What the request does besides asking Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Cents to refund.
    pub amount: i64,
    /// The job is cancelled in the request's transaction.
    pub cancel_job: bool,
    /// The job is done already: it stays so, and an operator is told.
    pub alert_completed: bool,
}

/// The guards, in order: the order must hold its money (paid, not disputed), the amount must
/// fit in what remains once the requests in flight are counted, and a refund that calls a
/// visit off (`cancel_job`, or a refund of everything left) needs `override_dispatched` for a
/// `scheduled` job. A `completed` job is never moved: its refund goes through and raises the
/// operator alert.
pub fn decide(
    order: &OrderMoney,
    job: Option<&Stored<JobStatus>>,
    new: &NewRefund,
) -> Result<Decision, Refusal> {
    match order.status.known() {
        Some(OrderStatus::Paid) => {}
        Some(OrderStatus::Disputed) => return Err(Refusal::Disputed),
        Some(OrderStatus::Refunded | OrderStatus::DisputeLost) => {
            return Err(Refusal::TooMuch { remaining: 0 });
        }
        _ => return Err(Refusal::NotPaid(order.status.to_string())),
    }
    if order.payment_intent.is_none() {
        return Err(Refusal::PaymentUnknown);
    }
    let total = order.amount_charged.unwrap_or(0);
    let remaining = (total - order.amount_refunded - order.in_flight).max(0);
    let amount = new.amount.unwrap_or(remaining);
    if amount <= 0 || amount > remaining {
        return Err(Refusal::TooMuch { remaining });
    }
    let calls_off = new.cancel_job || amount == remaining;
    let job = job.and_then(Stored::known);
    match job {
        Some(JobStatus::Completed) if new.cancel_job => Err(Refusal::JobCompleted),
        Some(JobStatus::Scheduled) if calls_off && !new.override_dispatched => {
            Err(Refusal::JobScheduled)
        }
        _ => Ok(Decision {
            amount,
            cancel_job: calls_off
                && matches!(
                    job,
                    Some(JobStatus::AwaitingPayment | JobStatus::Ready | JobStatus::Scheduled)
                ),
            alert_completed: job == Some(JobStatus::Completed),
        }),
    }
}

#[cfg(test)]
mod tests;
