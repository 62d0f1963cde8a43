//! An order's refund requests, as the admin list and the console show them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::orders::OrderId;

/// One request and what became of it (as `GET /api/admin/orders/{order_id}/refunds` lists it).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RefundRequestRow {
    pub refund_request_id: uuid::Uuid,
    pub amount: i64,
    pub reason: String,
    pub cancel_job: bool,
    pub override_dispatched: bool,
    /// `requested`, `succeeded` or `failed`.
    pub status: String,
    pub stripe_refund_id: Option<String>,
    /// Stripe's reason for a failed request (`charge_already_refunded: ...`).
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// The order's requests, oldest first.
pub async fn for_order(
    pool: &PgPool,
    order_id: &OrderId,
) -> Result<Vec<RefundRequestRow>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT refund_request_id, amount, reason, cancel_job, override_dispatched, status,
               stripe_refund_id, failure_reason, created_at, settled_at
        FROM h2s_refund_requests WHERE order_id = $1
        ORDER BY created_at, refund_request_id
        "#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}

/// Whether the order exists.
pub async fn order_exists(pool: &PgPool, order_id: &OrderId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(r#"SELECT EXISTS (SELECT 1 FROM h2s_orders WHERE order_id = $1)"#)
        .bind(order_id)
        .fetch_one(pool)
        .await
}
