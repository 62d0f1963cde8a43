//! What the storefront sees of an order (the checkout's answer, `GET /api/orders/{id}`):
//! its status and its job's, never personal data.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    dispatch::JobStatus,
    orders::{OrderId, OrderStatus},
    stored::Stored,
};

/// What the storefront may see of an order: no personal data.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OrderView {
    pub order_id: OrderId,
    pub status: Stored<OrderStatus>,
    pub job_id: Option<Uuid>,
    pub job_status: Option<Stored<JobStatus>>,
    #[serde(skip)]
    pub session_id: Option<String>,
    #[serde(skip)]
    pub session_url: Option<String>,
    pub failure_reason: Option<String>,
    pub checkout_trace_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub amount_refunded: i64,
}

pub async fn view(pool: &PgPool, order_id: &OrderId) -> Result<Option<OrderView>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT o.order_id, o.status, o.dispatch_job_id AS job_id, j.status AS job_status,
               o.stripe_session_id AS session_id, o.stripe_session_url AS session_url,
               o.failure_reason, o.checkout_trace_id, o.created_at, o.paid_at,
               o.amount_refunded
        FROM h2s_orders o
        LEFT JOIN h2s_dispatch_jobs j ON j.job_id = o.dispatch_job_id
        WHERE o.order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await
}
