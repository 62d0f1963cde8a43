//! The types of the API's bodies, as described in `/openapi.json`. The response types are
//! the ones the handlers serialize.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/shop`. Unknown fields are ignored; `success_url`/`cancel_url` may be left out
/// when the api has configured defaults.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CheckoutRequest {
    #[schema(rename = "__action", pattern = "^create_checkout_session$")]
    action: String,
    customer: Customer,
    /// 1 to 50 lines.
    #[schema(min_items = 1, max_items = 50)]
    cart: Vec<CartLine>,
    /// At most 20 string values; keys 1-40 bytes, values at most 500 bytes.
    #[schema(nullable = false)]
    metadata: Option<BTreeMap<String, String>>,
    /// Absolute http(s) URL, at most 2048 bytes.
    #[schema(format = "uri", nullable = false)]
    success_url: Option<String>,
    #[schema(format = "uri", nullable = false)]
    cancel_url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Customer {
    #[schema(format = Email)]
    email: String,
    /// Free text as typed (trimmed, length-capped).
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    phone: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CartLine {
    #[schema(pattern = "^price_[A-Za-z0-9_]{1,100}$")]
    price_id: String,
    #[schema(minimum = 1, maximum = 100)]
    qty: u32,
}

/// Where to pay.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pay {
    pub session_url: Option<String>,
    pub session_id: String,
}

/// `200`: the job and the Stripe session exist.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutReady {
    pub ok: bool,
    pub checkout_trace_id: Uuid,
    pub order_id: String,
    pub job_id: Uuid,
    pub pay: Pay,
}

/// `202`: the order is safe and will complete; poll `status_url`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutProcessing {
    pub ok: bool,
    pub checkout_trace_id: Uuid,
    pub order_id: String,
    /// `processing`
    pub status: String,
    pub status_url: String,
}

/// `422 payment_setup_failed`: Stripe refused the order's own content.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutRefused {
    pub ok: bool,
    pub error: ErrorDetail,
    pub checkout_trace_id: Uuid,
    pub order_id: String,
    /// `failed`
    pub status: String,
    pub status_url: String,
}

/// `GET /api/orders/{order_id}`: no personal data.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderStatusBody {
    pub ok: bool,
    pub order_id: String,
    pub status: String,
    pub job_id: Option<Uuid>,
    pub job_status: Option<String>,
    pub pay: Option<Pay>,
    pub failure_reason: Option<String>,
    pub checkout_trace_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// What was refunded so far (cents): a partial refund shows here, the status unchanged.
    pub amount_refunded: i64,
}

/// The webhook's acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub ok: bool,
    /// The event id.
    pub received: String,
    /// `applied`, `duplicate`, `ignored`, ...
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub order_id: Option<String>,
}

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub ok: bool,
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// The one input at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

/// `{"ok": true}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Ok {
    pub ok: bool,
}

/// An admin listing: `{"ok": true, ...}` with one array of rows.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminList {
    ok: bool,
}

/// An admin sweep: `{"ok": true, "report": {...}}` (fields as in the README).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SweepReportBody {
    ok: bool,
    report: serde_json::Value,
}
