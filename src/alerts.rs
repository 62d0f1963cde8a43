//! What needs a human after the money moved (`h2s_operator_alerts`): a dispute opened, or a
//! refund or a lost dispute for a job already scheduled or done (left as it is), one per
//! order and kind; or a signed Stripe event that cannot be used, one per event (it names no
//! order we can find); or an event endpoint disabled after 5 days of failures. The console
//! lists the open ones.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use crate::ids::OrderId;

/// Why an operator is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// The customer's bank disputes the payment: evidence is due, the job is on hold.
    DisputeOpened,
    /// The order was refunded (or its dispute lost) but its job is already scheduled or
    /// completed: the visit is the dispatcher's to call off, or the money to recover.
    MoneyBackAfterDispatch,
    /// A correctly signed event of a type acted on lacks a field needed to act (a dispute
    /// without `payment_intent`, say): recorded, not applied; what it was about is the
    /// operator's to find in Stripe's dashboard by its event id.
    UnusableEvent,
    /// Every delivery attempt to an event endpoint failed for 5 days: it was disabled.
    EndpointFailing,
    /// A hold nears its end (`capture_before` within `CAPTURE_WARNING_HOURS`) and its job is
    /// not completed: capture it, or expect a lapse.
    AuthorizationExpiring,
    /// A hold lapsed: the job is on hold (a scheduled visit is left booked) until a new
    /// payment link is paid.
    AuthorizationExpired,
    /// A refund Stripe had taken (`pending`) failed later (the customer's bank refused it): the
    /// customer has not been repaid, though the order was told refunded (or partially) when
    /// the refund was made. The order and its job stay as they are (a refund is never
    /// undone into a visit); the operator refunds again or settles with the customer.
    RefundFailed,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::DisputeOpened => "dispute_opened",
            AlertKind::MoneyBackAfterDispatch => "money_back_after_dispatch",
            AlertKind::UnusableEvent => "unusable_event",
            AlertKind::EndpointFailing => "event_endpoint_failing",
            AlertKind::AuthorizationExpiring => "authorization_expiring",
            AlertKind::AuthorizationExpired => "authorization_expired",
            AlertKind::RefundFailed => "refund_failed",
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
        // INFO: a dispute or a refund is business, not a fault of this system; operators are
        // told by the alert row (the console, `h2s_operator_alerts_open`), not by log alerts
        // that would fire on healthy deliveries.
        tracing::info!(order_id = %order_id, kind = kind.as_str(), detail, "operator alert raised");
    }
    Ok(new)
}

/// Raises the alert for one Stripe event (no order), once per event and kind. `true` if new.
pub async fn raise_for_event(
    tx: &mut Transaction<'_, Postgres>,
    event_id: &str,
    kind: AlertKind,
    detail: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        INSERT INTO h2s_operator_alerts (event_id, kind, detail) VALUES ($1, $2, $3)
        ON CONFLICT (event_id, kind) WHERE event_id IS NOT NULL DO NOTHING
        "#,
    )
    .bind(event_id)
    .bind(kind.as_str())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Raises the alert about one event endpoint; one open alert per endpoint and kind (a
/// resolved one is opened again).
pub async fn raise_for_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    endpoint_id: uuid::Uuid,
    kind: AlertKind,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"
        INSERT INTO h2s_operator_alerts (endpoint_id, kind, detail) VALUES ($1, $2, $3)
        ON CONFLICT (endpoint_id, kind) WHERE endpoint_id IS NOT NULL
        DO UPDATE SET detail = EXCLUDED.detail, created_at = now(), resolved_at = NULL
        "#,
    )
    .bind(endpoint_id)
    .bind(kind.as_str())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An alert no operator has resolved yet: about an order, or about a Stripe event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAlert {
    pub order_id: Option<OrderId>,
    pub event_id: Option<String>,
    pub endpoint_id: Option<uuid::Uuid>,
    pub kind: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// The open alerts, newest first (at most `limit`).
pub async fn open(pool: &PgPool, limit: i64) -> Result<Vec<OpenAlert>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, event_id, endpoint_id, kind, detail, created_at FROM h2s_operator_alerts
        WHERE resolved_at IS NULL ORDER BY created_at DESC LIMIT $1
        "#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many alerts are open (the `operator_alerts_open` gauge).
pub async fn open_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(r#"SELECT count(*) FROM h2s_operator_alerts WHERE resolved_at IS NULL"#)
        .fetch_one(pool)
        .await
}
