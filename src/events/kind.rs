//! What the feed tells: the event types, and each event with its particulars. What a change
//! means as an event is decided where the change is decided (`dispatch::told`,
//! `orders::transition`, `payments::money`): this module knows no domain type.

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
    OrderAuthorized,
    OrderCaptured,
    OrderReleased,
    OrderAuthorizationExpiring,
    OrderAuthorizationExpired,
}

impl EventType {
    /// Every type, in the order the README lists them.
    pub const ALL: [EventType; 16] = [
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
        EventType::OrderAuthorized,
        EventType::OrderCaptured,
        EventType::OrderReleased,
        EventType::OrderAuthorizationExpiring,
        EventType::OrderAuthorizationExpired,
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
            EventType::OrderAuthorized => "order.authorized",
            EventType::OrderCaptured => "order.captured",
            EventType::OrderReleased => "order.released",
            EventType::OrderAuthorizationExpiring => "order.authorization_expiring",
            EventType::OrderAuthorizationExpired => "order.authorization_expired",
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
    /// The order's hold was released (an operator refunded it before a capture).
    Released,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Refunded => "refunded",
            CancelReason::DisputeLost => "dispute_lost",
            CancelReason::Expired => "expired",
            CancelReason::PaymentFailed => "payment_failed",
            CancelReason::Operator => "operator",
            CancelReason::Released => "released",
        }
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
    OrderAuthorized,
    OrderCaptured,
    OrderReleased,
    OrderAuthorizationExpiring,
    OrderAuthorizationExpired,
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
            Event::OrderAuthorized => EventType::OrderAuthorized,
            Event::OrderCaptured => EventType::OrderCaptured,
            Event::OrderReleased => EventType::OrderReleased,
            Event::OrderAuthorizationExpiring => EventType::OrderAuthorizationExpiring,
            Event::OrderAuthorizationExpired => EventType::OrderAuthorizationExpired,
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
}

#[cfg(test)]
mod tests;
