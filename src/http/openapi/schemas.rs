//! The types of the API's bodies, as described in `/openapi.json`. The response types are
//! the ones the handlers serialize.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::{
    ToSchema,
    openapi::schema::{Object, ObjectBuilder, SchemaType, Type},
};
use uuid::Uuid;

/// `POST /api/shop`. Unknown fields are ignored (here and in `customer` and the cart's lines);
/// `success_url`/`cancel_url` may be left out (or `null`, or blank) when the api has
/// configured defaults.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CheckoutRequest {
    #[schema(rename = "__action", schema_with = action)]
    action: String,
    customer: Customer,
    #[schema(min_items = 1, max_items = 50)]
    cart: Vec<CartLine>,
    /// Passed on to Stripe; `null` as left out.
    #[schema(schema_with = metadata)]
    metadata: Option<BTreeMap<String, String>>,
    /// Absolute http(s) URL.
    #[schema(format = "uri", max_length = 2048)]
    success_url: Option<String>,
    /// Absolute http(s) URL.
    #[schema(format = "uri", max_length = 2048)]
    cancel_url: Option<String>,
}

fn action() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["create_checkout_session"]))
        .build()
}

/// At most 20 string values of at most 500 characters; keys of 1 to 40 characters without
/// `[` or `]` (Stripe's form encoding), not one of the keys the system writes itself.
fn metadata() -> Object {
    use crate::checkout::request::limits::{
        MAX_METADATA_KEY_LEN, MAX_METADATA_KEYS, MAX_METADATA_VALUE_LEN,
    };
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_METADATA_KEY_LEN))
        .pattern(Some("^(?!(order_id|job_id|checkout_trace_id)$)[^\\[\\]]*$"));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_METADATA_VALUE_LEN));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .max_properties(Some(MAX_METADATA_KEYS))
        .property_names(Some(key.build()))
        .additional_properties(Some(utoipa::openapi::schema::Schema::Object(value.build())))
        .build()
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Customer {
    #[schema(format = Email)]
    email: String,
    /// Free text as typed (trimmed, length-capped); any other JSON counts as not given.
    #[schema(value_type = Value, required = false)]
    name: Option<Value>,
    /// As `name`.
    #[schema(value_type = Value, required = false)]
    phone: Option<Value>,
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

/// What every admin route may answer besides its own statuses.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AdminErrors {
    /// No bearer token, or not the admin token (or the api has none).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The database is unreachable or read-only, or the request ran past its time limit.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What every route with a JSON body may answer besides its own statuses.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// The body is over 64 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
}
