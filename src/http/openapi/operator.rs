//! The bodies of the operator's money and dispatch routes (issue 26), as the handlers read
//! and serialize them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::refunds::list::RefundRequestRow;

/// `POST /api/admin/orders/{order_id}/refunds`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefundBody {
    /// Cents; left out: all that remains refundable.
    #[schema(minimum = 1, nullable = false)]
    amount: Option<i64>,
    /// Why (1-500 characters), kept with the request.
    reason: String,
    /// Cancel the order's job in the same transaction (default false).
    #[schema(nullable = false)]
    cancel_job: Option<bool>,
    /// Required to call off a `scheduled` visit (a cancel, or a refund of all that is left).
    #[schema(nullable = false)]
    override_dispatched: Option<bool>,
}

/// `202`: the request is written; the worker carries it out.
#[derive(Serialize, ToSchema)]
pub struct RefundAccepted {
    pub ok: bool,
    pub refund_request_id: Uuid,
    /// `requested`.
    pub status: String,
}

/// `GET /api/admin/orders/{order_id}/refunds`: oldest first.
#[derive(Serialize, ToSchema)]
pub struct RefundRequests {
    pub ok: bool,
    pub order_id: String,
    pub refunds: Vec<RefundRequestRow>,
}

/// `POST /api/admin/dispatch-jobs/{job_id}/schedule`.
#[derive(Deserialize, ToSchema)]
pub struct ScheduleBody {
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// The technician's reference (1-200 characters).
    pub technician: String,
}

/// `POST /api/admin/dispatch-jobs/{job_id}/cancel`.
#[derive(Deserialize, ToSchema)]
pub struct CancelBody {
    /// Why (1-500 characters).
    pub reason: String,
}

/// A job after a dispatcher's action.
#[derive(Serialize, ToSchema)]
pub struct JobAnswer {
    pub ok: bool,
    pub job_id: Uuid,
    pub order_id: String,
    pub status: String,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub technician: Option<String>,
    pub cancel_reason: Option<String>,
}
