//! What needs a human after the money moved (`h2s_operator_alerts`): a dispute opened, or a
//! refund or a lost dispute for a job already scheduled or done (left as it is). One per
//! order and kind; the console lists the open ones.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use crate::orders::OrderId;

/// Why an operator is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// The customer's bank disputes the payment: evidence is due, the job is on hold.
    DisputeOpened,
    /// The order was refunded (or its dispute lost) but its job is already scheduled or
    /// completed: the visit is the dispatcher's to call off, or the money to recover.
    MoneyBackAfterDispatch,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::DisputeOpened => "dispute_opened",
            AlertKind::MoneyBackAfterDispatch => "money_back_after_dispatch",
        }
    }
}

/// Raises the alert, once per order and kind. `true` if it is new.
pub async fn raise(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    kind: AlertKind,
    detail: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        INSERT INTO h2s_operator_alerts (order_id, kind, detail) VALUES ($1, $2, $3)
        ON CONFLICT (order_id, kind) DO NOTHING
        "#,
    )
    .bind(order_id)
    .bind(kind.as_str())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    let new = done.rows_affected() == 1;
    if new {
        tracing::warn!(order_id = %order_id, kind = kind.as_str(), detail, "operator alert raised");
    }
    Ok(new)
}

/// An alert no operator has resolved yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAlert {
    pub order_id: OrderId,
    pub kind: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// The open alerts, newest first (at most `limit`).
pub async fn open(pool: &PgPool, limit: i64) -> Result<Vec<OpenAlert>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, kind, detail, created_at FROM h2s_operator_alerts
        WHERE resolved_at IS NULL ORDER BY created_at DESC LIMIT $1
        "#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
