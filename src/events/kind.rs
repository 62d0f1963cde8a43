//! What the feed tells: the event types, and each event with its particulars.

use crate::{dispatch::JobStatus, orders::OrderStatus};

/// The type of an event (`type` in its body, and what an endpoint subscribes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    JobReady,
    JobOnHold,
    JobReleased,
    JobCancelled,
    JobScheduled,
    JobCompleted,
    OrderPaid,
    OrderRefunded,
    OrderPartiallyRefunded,
    DisputeOpened,
    DisputeClosed,
}

impl EventType {
    /// Every type, in the order the README lists them.
    pub const ALL: [EventType; 11] = [
        EventType::JobReady,
        EventType::JobOnHold,
        EventType::JobReleased,
        EventType::JobCancelled,
        EventType::JobScheduled,
        EventType::JobCompleted,
        EventType::OrderPaid,
        EventType::OrderRefunded,
        EventType::OrderPartiallyRefunded,
        EventType::DisputeOpened,
        EventType::DisputeClosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobReady => "job.ready",
            EventType::JobOnHold => "job.on_hold",
            EventType::JobReleased => "job.released",
            EventType::JobCancelled => "job.cancelled",
            EventType::JobScheduled => "job.scheduled",
            EventType::JobCompleted => "job.completed",
            EventType::OrderPaid => "order.paid",
            EventType::OrderRefunded => "order.refunded",
            EventType::OrderPartiallyRefunded => "order.partially_refunded",
            EventType::DisputeOpened => "dispute.opened",
            EventType::DisputeClosed => "dispute.closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Why a job was cancelled (`reason` of `job.cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    Refunded,
    DisputeLost,
    Expired,
    PaymentFailed,
    Operator,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Refunded => "refunded",
            CancelReason::DisputeLost => "dispute_lost",
            CancelReason::Expired => "expired",
            CancelReason::PaymentFailed => "payment_failed",
            CancelReason::Operator => "operator",
        }
    }

    /// The reason a payment status that cancels a job gives; `None` for one that does not.
    pub fn for_order(status: OrderStatus) -> Option<Self> {
        Some(match status {
            OrderStatus::Refunded => CancelReason::Refunded,
            OrderStatus::DisputeLost => CancelReason::DisputeLost,
            OrderStatus::Expired => CancelReason::Expired,
            OrderStatus::PaymentFailed | OrderStatus::Failed => CancelReason::PaymentFailed,
            OrderStatus::PendingPayment
            | OrderStatus::AwaitingPayment
            | OrderStatus::Paid
            | OrderStatus::Disputed => return None,
        })
    }
}

/// How a dispute closed (`outcome` of `dispute.closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeOutcome {
    Won,
    Lost,
}

/// One event, with what its type alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    JobReady,
    JobOnHold,
    JobReleased,
    JobCancelled(CancelReason),
    JobScheduled,
    JobCompleted,
    OrderPaid,
    OrderRefunded,
    OrderPartiallyRefunded,
    DisputeOpened,
    DisputeClosed(DisputeOutcome),
}

impl Event {
    pub fn event_type(self) -> EventType {
        match self {
            Event::JobReady => EventType::JobReady,
            Event::JobOnHold => EventType::JobOnHold,
            Event::JobReleased => EventType::JobReleased,
            Event::JobCancelled(_) => EventType::JobCancelled,
            Event::JobScheduled => EventType::JobScheduled,
            Event::JobCompleted => EventType::JobCompleted,
            Event::OrderPaid => EventType::OrderPaid,
            Event::OrderRefunded => EventType::OrderRefunded,
            Event::OrderPartiallyRefunded => EventType::OrderPartiallyRefunded,
            Event::DisputeOpened => EventType::DisputeOpened,
            Event::DisputeClosed(_) => EventType::DisputeClosed,
        }
    }

    /// `reason` of a `job.cancelled`.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Event::JobCancelled(reason) => Some(reason.as_str()),
            _ => None,
        }
    }

    /// `outcome` of a `dispute.closed`.
    pub fn outcome(self) -> Option<&'static str> {
        match self {
            Event::DisputeClosed(DisputeOutcome::Won) => Some("won"),
            Event::DisputeClosed(DisputeOutcome::Lost) => Some("lost"),
            _ => None,
        }
    }

    /// The event of a job's move from `from` to `to`; `payment` is the order status that
    /// moved it (`None`: the dispatcher or an operator did). A hold lifted is `job.released`
    /// (to `ready`, or back to `scheduled`); a move this feed has no type for (back to
    /// `awaiting_payment`) is none.
    pub fn for_job_move(
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
                Some(status) => CancelReason::for_order(status)?,
                None => CancelReason::Operator,
            }),
            (_, J::AwaitingPayment) => return None,
        })
    }

    /// The event of a job created with `status` (for a paid order `ready`, for a disputed
    /// one `on_hold`; a job awaiting its payment is no event yet).
    pub fn for_new_job(status: JobStatus) -> Option<Event> {
        match status {
            JobStatus::Ready => Some(Event::JobReady),
            JobStatus::OnHold => Some(Event::JobOnHold),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
