//! What an order's Checkout Session is made of: read from the order, or carried by its
//! checkout task so that the worker asks Stripe without reading the order first
//! (`checkout::fulfil`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{CaptureMethod, OrderId, OrderStatus, cart::CartLine};
use crate::stored::Stored;

/// A new order's Checkout Session inputs as its checkout task carries them: what
/// [`session_inputs`] reads of the order before anything else changes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckoutInputs {
    pub customer_email: String,
    pub cart: Vec<CartLine>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub success_url: String,
    pub cancel_url: String,
    pub created_at: DateTime<Utc>,
    /// How the order is paid (a hold: `manual`). Absent (rows written before holds
    /// existed): the worker reads the order instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureMethod>,
    /// A request waits for the checkout's end (the api's wait budget is not zero): the worker
    /// tells it. Absent (older rows): assumed.
    #[serde(default = "waited_by_default")]
    pub waited: bool,
}

fn waited_by_default() -> bool {
    true
}

impl CheckoutInputs {
    /// The inputs of a `pending_payment` order with neither job nor session yet (its first
    /// payment attempt); `None` for inputs that do not say how the order is paid.
    pub fn session_inputs(
        self,
        order_id: &OrderId,
        checkout_trace_id: Uuid,
    ) -> Option<SessionInputs> {
        let capture = self.capture?;
        Some(SessionInputs {
            order_id: order_id.clone(),
            status: Stored::Known(OrderStatus::PendingPayment),
            customer_email: self.customer_email,
            cart_json: self.cart,
            metadata_json: self.metadata,
            success_url: Some(self.success_url),
            cancel_url: Some(self.cancel_url),
            checkout_trace_id: Some(checkout_trace_id),
            dispatch_job_id: None,
            stripe_session_id: None,
            created_at: self.created_at,
            capture_method: capture.as_str().to_owned(),
            pay_attempt: 0,
            attempt_started_at: self.created_at,
        })
    }
}

/// What the worker needs to create an order's Checkout Session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInputs {
    pub order_id: OrderId,
    pub status: Stored<OrderStatus>,
    pub customer_email: String,
    #[sqlx(json)]
    pub cart_json: Vec<CartLine>,
    #[sqlx(json)]
    pub metadata_json: std::collections::BTreeMap<String, String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub checkout_trace_id: Option<Uuid>,
    pub dispatch_job_id: Option<Uuid>,
    pub stripe_session_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub capture_method: String,
    /// The payment attempt (0: the checkout's; one more per new payment link).
    pub pay_attempt: i32,
    /// When the current attempt began: a new payment link's request, else the checkout.
    pub attempt_started_at: DateTime<Utc>,
}

pub async fn session_inputs(
    pool: &PgPool,
    order_id: &OrderId,
) -> Result<Option<SessionInputs>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, status, customer_email, cart_json, metadata_json, success_url,
               cancel_url, checkout_trace_id, dispatch_job_id, stripe_session_id, created_at,
               capture_method, pay_attempt,
               COALESCE(pay_link_requested_at, created_at) AS attempt_started_at
        FROM h2s_orders WHERE order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await
}
