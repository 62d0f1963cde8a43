//! The bodies of the operator's money and dispatch routes (issue 26), as the handlers read
//! and serialize them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::refunds::list::RefundRequestRow;

// A text an operator fills in is trimmed (`str::trim`), so its pattern asks for one character
// besides that white space; its limits count characters before the trim.

/// `POST /api/admin/orders/{order_id}/refunds`. Unknown fields are refused (a misspelt
/// `cancel_job` must not refund without cancelling).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RefundBody {
    /// Cents; left out or `null`: all that remains refundable.
    #[schema(minimum = 1)]
    amount: Option<i64>,
    /// Why, kept with the request (trimmed).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    reason: String,
    /// Cancel the order's job in the same transaction (default false).
    cancel_job: Option<bool>,
    /// Required to call off a `scheduled` visit (a cancel, or a refund of all that is left).
    override_dispatched: Option<bool>,
}

/// `202`: the request is written; the worker carries it out.
#[derive(Serialize, ToSchema)]
pub struct RefundAccepted {
    pub ok: bool,
    /// `null` for an order whose payment is only held (`authorized`): nothing is refunded,
    /// the hold is released instead.
    pub refund_request_id: Option<Uuid>,
    /// `requested`; `releasing` for a held payment (the order becomes `released`, its job
    /// `cancelled`, once Stripe confirms).
    pub status: String,
}

/// `GET /api/admin/orders/{order_id}/refunds`: oldest first.
#[derive(Serialize, ToSchema)]
pub struct RefundRequests {
    pub ok: bool,
    pub order_id: String,
    pub refunds: Vec<RefundRequestRow>,
}

/// `POST /api/admin/dispatch-jobs/{job_id}/schedule`. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    pub window_start: DateTime<Utc>,
    /// After `window_start` (else 400 with field `window_end`).
    pub window_end: DateTime<Utc>,
    /// The technician's reference (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub technician: String,
}

/// `POST /api/admin/dispatch-jobs/{job_id}/complete` (the body may be left out). Unknown
/// fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// Cents to capture of a held payment (an `authorized` order), at most the amount held;
    /// the rest is released. Left out or `null`: all of it. Only for an `authorized` order.
    #[schema(minimum = 1)]
    pub amount: Option<i64>,
}

/// `POST /api/admin/orders/{order_id}/pay-link`: the new payment attempt's link.
#[derive(Serialize, ToSchema)]
pub struct PayLinkAnswer {
    pub ok: bool,
    pub order_id: String,
    /// The payment attempt (1 for the first new link).
    pub attempt: i32,
    /// The order's status: `pending_payment` until the new session is paid.
    pub status: String,
    /// The new session, once the worker created it (`null` until then: poll the order).
    pub pay: Option<super::schemas::Pay>,
    pub status_url: String,
}

/// `POST /api/admin/dispatch-jobs/{job_id}/cancel`. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (trimmed).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
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
