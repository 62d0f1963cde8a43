//! What a job's move means as a feed event, decided here beside the move itself
//! (`transition::apply`, `ensure_job`): the feed (`events`) only writes what it is told.

use super::JobStatus;
use crate::{
    events::{CancelReason, Event},
    orders::OrderStatus,
};

/// The reason a payment status that cancels a job gives; `None` for one that does not.
fn cancel_reason(status: OrderStatus) -> Option<CancelReason> {
    Some(match status {
        OrderStatus::Refunded => CancelReason::Refunded,
        OrderStatus::DisputeLost => CancelReason::DisputeLost,
        OrderStatus::Expired => CancelReason::Expired,
        OrderStatus::PaymentFailed | OrderStatus::Failed => CancelReason::PaymentFailed,
        OrderStatus::Released => CancelReason::Released,
        OrderStatus::PendingPayment
        | OrderStatus::AwaitingPayment
        | OrderStatus::Paid
        | OrderStatus::Disputed
        | OrderStatus::Authorized
        | OrderStatus::AuthorizationExpired => return None,
    })
}

/// The event of a job's move from `from` to `to`; `payment` is the order status that
/// moved it (`None`: the dispatcher or an operator did). A hold lifted is `job.released`
/// (to `ready`, or back to `scheduled`); a move this feed has no type for (back to
/// `awaiting_payment`) is none.
pub(super) fn job_move(
    from: JobStatus,
    to: JobStatus,
    payment: Option<OrderStatus>,
) -> Option<Event> {
    use JobStatus as J;
    Some(match (from, to) {
        (J::OnHold, J::Ready | J::Scheduled) => Event::JobReleased,
        (_, J::Ready) => Event::JobReady,
        (_, J::Scheduled) => Event::JobScheduled,
        (_, J::OnHold) => Event::JobOnHold,
        (_, J::Completed) => Event::JobCompleted,
        (_, J::Cancelled) => Event::JobCancelled(match payment {
            Some(status) => cancel_reason(status)?,
            None => CancelReason::Operator,
        }),
        (_, J::AwaitingPayment) => return None,
    })
}

/// The event of a job created with `status` (for a paid order `ready`, for a disputed
/// one `on_hold`; a job awaiting its payment is no event yet).
pub(super) fn new_job(status: JobStatus) -> Option<Event> {
    match status {
        JobStatus::Ready => Some(Event::JobReady),
        JobStatus::OnHold => Some(Event::JobOnHold),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
