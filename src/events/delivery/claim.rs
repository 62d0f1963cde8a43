//! Claiming due deliveries: in one short statement, with a lease, at most the per-endpoint
//! cap in flight for any endpoint (counted across replicas), rows another worker holds
//! skipped.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::settings::DeliveryConfig;

/// A delivery this worker holds until `leased_until`: what to send, where, signed how.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub delivery_id: i64,
    pub event_id: String,
    pub endpoint_id: Uuid,
    /// This attempt's number in the current run of the schedule (1 for the first).
    pub attempts: i32,
    pub leased_until: DateTime<Utc>,
    /// The delivery was replayed by an operator.
    pub replay: bool,
    pub url: String,
    pub secret: String,
    /// The secret before the last rotation, while it still signs.
    pub previous_secret: Option<String>,
    pub body: String,
}

/// Due deliveries of enabled endpoints, oldest due first per endpoint, each endpoint's in
/// flight (leases not run out) kept under `$1`, at most `$2` in all; claimed with a lease of
/// `$3` milliseconds and the attempt counted.
const CLAIM_SQL: &str = r#"
WITH candidates AS (
    SELECT c.delivery_id
    FROM h2s_event_endpoints e
    CROSS JOIN LATERAL (
        SELECT count(*)::int AS n FROM h2s_event_deliveries b
        WHERE b.endpoint_id = e.endpoint_id AND b.status = 'pending'
          AND b.leased_until IS NOT NULL AND b.leased_until >= now()
    ) busy
    CROSS JOIN LATERAL (
        SELECT d.delivery_id, d.next_attempt_at FROM h2s_event_deliveries d
        WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending'
          AND d.next_attempt_at <= now()
          AND (d.leased_until IS NULL OR d.leased_until < now())
        ORDER BY d.next_attempt_at, d.delivery_id
        LIMIT greatest($1 - busy.n, 0)
    ) c
    WHERE e.enabled
    ORDER BY c.next_attempt_at
    LIMIT $2
), claimed AS (
    UPDATE h2s_event_deliveries d
    SET leased_until = now() + $3 * interval '1 millisecond', attempts = d.attempts + 1
    WHERE d.delivery_id IN (
        SELECT delivery_id FROM h2s_event_deliveries
        WHERE delivery_id IN (SELECT delivery_id FROM candidates)
          AND status = 'pending' AND (leased_until IS NULL OR leased_until < now())
        FOR UPDATE SKIP LOCKED
    )
    RETURNING d.delivery_id, d.event_id, d.endpoint_id, d.attempts, d.leased_until, d.replays
)
SELECT cl.delivery_id, cl.event_id, cl.endpoint_id, cl.attempts, cl.leased_until,
       cl.replays > 0 AS replay, e.url, e.secret,
       CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret,
       ev.body
FROM claimed cl
JOIN h2s_event_endpoints e ON e.endpoint_id = cl.endpoint_id
JOIN h2s_events ev ON ev.event_id = cl.event_id
"#;

/// Claims up to `room` due deliveries.
pub async fn claim(
    pool: &PgPool,
    config: &DeliveryConfig,
    room: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    if room == 0 {
        return Ok(vec![]);
    }
    sqlx::query_as(CLAIM_SQL)
        .bind(i32::try_from(config.endpoint_concurrency).unwrap_or(i32::MAX))
        .bind(i64::try_from(room).unwrap_or(i64::MAX))
        .bind(i64::try_from(config.lease().as_millis()).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
}

/// How long until a delivery not due yet becomes due (its time comes, or the lease of a
/// worker that died runs out), if any; the loop sleeps no longer than that.
pub async fn next_due_in(pool: &PgPool) -> Result<Option<std::time::Duration>, sqlx::Error> {
    let seconds: Option<f64> = sqlx::query_scalar(
        r#"
        SELECT EXTRACT(EPOCH FROM least(
            (SELECT min(next_attempt_at) FROM h2s_event_deliveries
             WHERE status = 'pending' AND next_attempt_at > now()),
            (SELECT min(leased_until) FROM h2s_event_deliveries
             WHERE status = 'pending' AND leased_until IS NOT NULL AND leased_until >= now())
        ) - now())::float8
        "#,
    )
    .fetch_one(pool)
    .await?;
    Ok(seconds.map(|s| std::time::Duration::from_secs_f64(s.max(0.0))))
}
