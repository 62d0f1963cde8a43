//! How each endpoint is doing, read from the database: for the console, the admin API and
//! the metrics (at scrape time, so every replica reports the same).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// One endpoint's health.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EndpointHealth {
    pub endpoint_id: Uuid,
    pub url: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    /// The first failure of the current run of failures (none since).
    pub failing_since: Option<DateTime<Utc>>,
    /// Deliveries not delivered yet, still on the schedule.
    pub pending: i64,
    /// Deliveries whose schedule is spent (until replayed).
    pub failed: i64,
    /// Age of the oldest event still pending, in seconds; 0 when none.
    pub oldest_undelivered_age_s: f64,
}

/// Every endpoint's health, oldest endpoint first.
pub async fn endpoints(pool: &PgPool) -> Result<Vec<EndpointHealth>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT e.endpoint_id, e.url, e.enabled, e.disabled_reason, e.failing_since,
               (SELECT max(d.delivered_at) FROM h2s_event_deliveries d
                WHERE d.endpoint_id = e.endpoint_id AND d.status = 'delivered') AS last_success,
               p.pending, f.failed, p.oldest_undelivered_age_s
        FROM h2s_event_endpoints e
        CROSS JOIN LATERAL (
            SELECT count(*) AS pending,
                   COALESCE(EXTRACT(EPOCH FROM now() - min(ev.created_at))::float8, 0)
                       AS oldest_undelivered_age_s
            FROM h2s_event_deliveries d JOIN h2s_events ev ON ev.event_id = d.event_id
            WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending'
        ) p
        CROSS JOIN LATERAL (
            SELECT count(*) AS failed FROM h2s_event_deliveries d
            WHERE d.endpoint_id = e.endpoint_id AND d.status = 'failed'
        ) f
        ORDER BY e.created_at, e.endpoint_id
        "#,
    )
    .fetch_all(pool)
    .await
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeliveryRow {
    /// What `POST /api/admin/event-deliveries/{id}/replay` takes.
    pub delivery_id: i64,
    /// The event's `webhook-id`.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

/// An endpoint's deliveries that are not going well (failed, or pending after a failed
/// attempt), newest first, at most `limit`.
pub async fn failing(
    pool: &PgPool,
    endpoint_id: Uuid,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    listed(pool, endpoint_id, true, limit).await
}

/// An endpoint's deliveries, newest first, at most `limit`.
pub async fn recent(
    pool: &PgPool,
    endpoint_id: Uuid,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    listed(pool, endpoint_id, false, limit).await
}

async fn listed(
    pool: &PgPool,
    endpoint_id: Uuid,
    only_failing: bool,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT d.delivery_id, d.event_id, ev.event_type, d.status, d.attempts, d.last_error,
               d.created_at, d.next_attempt_at
        FROM h2s_event_deliveries d JOIN h2s_events ev ON ev.event_id = d.event_id
        WHERE d.endpoint_id = $1
          AND (NOT $3 OR d.status = 'failed' OR (d.status = 'pending' AND d.last_error IS NOT NULL))
        ORDER BY d.created_at DESC, d.delivery_id DESC
        LIMIT $2
        "#,
    )
    .bind(endpoint_id)
    .bind(limit)
    .bind(only_failing)
    .fetch_all(pool)
    .await
}

/// Whether an endpoint with this id exists.
pub async fn endpoint_exists(pool: &PgPool, endpoint_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        r#"SELECT EXISTS (SELECT 1 FROM h2s_event_endpoints WHERE endpoint_id = $1)"#,
    )
    .bind(endpoint_id)
    .fetch_one(pool)
    .await
}

/// One attempt of the delivery log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LoggedAttempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub replay: bool,
}

/// A delivery's log, newest first, at most `limit` attempts.
pub async fn attempts(
    pool: &PgPool,
    delivery_id: i64,
    limit: i64,
) -> Result<Vec<LoggedAttempt>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT attempt, started_at, status_code, latency_ms, error, replay
        FROM h2s_delivery_attempts WHERE delivery_id = $1
        ORDER BY started_at DESC, attempt_id DESC LIMIT $2
        "#,
    )
    .bind(delivery_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
