//! The statuses of a dispatch job, and which payment change moves a job where.

use serde::Serialize;

use crate::orders::OrderStatus;

/// The status of a dispatch job (`h2s_dispatch_jobs.status`). `scheduled` and `completed`
/// are the dispatcher's: a payment change never moves a job out of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum JobStatus {
    AwaitingPayment,
    Ready,
    Scheduled,
    Completed,
    Cancelled,
    /// The order's payment is disputed: not to be visited until the dispute closes.
    OnHold,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::AwaitingPayment => "awaiting_payment",
            JobStatus::Ready => "ready",
            JobStatus::Scheduled => "scheduled",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::OnHold => "on_hold",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "awaiting_payment" => JobStatus::AwaitingPayment,
            "ready" => JobStatus::Ready,
            "scheduled" => JobStatus::Scheduled,
            "completed" => JobStatus::Completed,
            "cancelled" => JobStatus::Cancelled,
            "on_hold" => JobStatus::OnHold,
            _ => return None,
        })
    }

    /// The statuses a job may be moved from to reach `self` by a payment change. `completed`
    /// is never left; `scheduled` only for a hold (a disputed payment stops the visit).
    pub(super) fn moves_from(self) -> Vec<&'static str> {
        use JobStatus::{AwaitingPayment, Cancelled, OnHold, Ready, Scheduled};
        let from: &[JobStatus] = match self {
            Ready => &[AwaitingPayment, Cancelled, OnHold],
            AwaitingPayment => &[Ready],
            Cancelled => &[AwaitingPayment, Ready, OnHold],
            OnHold => &[AwaitingPayment, Ready, Scheduled, Cancelled],
            Scheduled | JobStatus::Completed => &[],
        };
        from.iter().map(|s| s.as_str()).collect()
    }

    /// The dispatcher's: a refund leaves such a job as it is and flags the order for an
    /// operator (a lost dispute too, for a `completed` one; it cancels a `scheduled` visit,
    /// as its opening would have held it).
    pub fn is_dispatched(self) -> bool {
        matches!(self, JobStatus::Scheduled | JobStatus::Completed)
    }

    /// The job status an order's payment status implies.
    pub fn for_order(status: OrderStatus) -> Self {
        match status {
            OrderStatus::PendingPayment | OrderStatus::AwaitingPayment => {
                JobStatus::AwaitingPayment
            }
            OrderStatus::Paid | OrderStatus::Authorized => JobStatus::Ready,
            OrderStatus::Disputed | OrderStatus::AuthorizationExpired => JobStatus::OnHold,
            OrderStatus::PaymentFailed
            | OrderStatus::Released
            | OrderStatus::Expired
            | OrderStatus::Failed
            | OrderStatus::Refunded
            | OrderStatus::DisputeLost => JobStatus::Cancelled,
        }
    }
}

impl crate::stored::StatusText for JobStatus {
    fn as_str(self) -> &'static str {
        JobStatus::as_str(self)
    }

    fn parse(text: &str) -> Option<Self> {
        JobStatus::parse(text)
    }
}
