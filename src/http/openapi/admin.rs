//! The bodies of the admin listings and actions (`super::super::admin`), as the handlers
//! read and serialize them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `{"ok": true, "orders": [...]}`: rows as the database holds them (an old backend's status
/// outside today's set included), so they stay JSON.
#[derive(Serialize, ToSchema)]
pub struct OrdersPage {
    pub ok: bool,
    #[schema(value_type = Vec<AdminOrder>)]
    pub orders: Vec<Value>,
}

/// An order as listed (no cart, no metadata).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminOrder {
    order_id: String,
    /// Today's statuses, or an old backend's.
    status: String,
    dispatch_job_id: Option<Uuid>,
    stripe_session_id: Option<String>,
    customer_email: String,
    customer_phone: Option<String>,
    customer_phone_e164: Option<String>,
    /// Cents.
    amount_total: Option<i64>,
    currency: Option<String>,
    failure_reason: Option<String>,
    created_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
}

/// `{"ok": true, "jobs": [...]}`, rows as for [`OrdersPage`].
#[derive(Serialize, ToSchema)]
pub struct JobsPage {
    pub ok: bool,
    #[schema(value_type = Vec<AdminJob>)]
    pub jobs: Vec<Value>,
}

/// A dispatch job as listed, with its recipient (none for an old backend's job).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminJob {
    job_id: Uuid,
    order_id: String,
    status: String,
    service_address: Option<String>,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `{"ok": true, "tasks": [...]}`: each task's `id` is what the retry route takes.
#[derive(Serialize, ToSchema)]
pub struct DeadTasksPage {
    pub ok: bool,
    pub tasks: Vec<crate::outbox::dead::DeadTask>,
}

/// `{"ok": true, "retried": "<task id>"}`
#[derive(Serialize, ToSchema)]
pub struct Retried {
    pub ok: bool,
    pub retried: String,
}

/// `{"ok": true, "report": {...}}` (fields as in the README).
#[derive(Serialize, ToSchema)]
pub struct SweepAnswer {
    pub ok: bool,
    #[schema(value_type = Object)]
    pub report: crate::reconcile::SweepReport,
}

/// A listing's filter and length. Unknown parameters are ignored.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only rows of this status (any text: an old backend's statuses too).
    pub status: Option<String>,
    /// At most this many rows (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// How many rows a listing gives: 1 to 1000, default 100.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many rows (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// `POST /api/admin/reconcile?dry_run=true`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SweepQuery {
    /// Report what would be repaired, change nothing (default false).
    #[serde(default)]
    pub dry_run: bool,
}
