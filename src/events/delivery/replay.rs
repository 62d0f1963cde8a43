//! Replay: a delivery (or every delivery of an endpoint since a time) back to `pending`, its
//! attempts reset and due now. The event is the same, so is the `webhook-id`. A send in
//! flight meanwhile loses its lease (its outcome is logged, not applied).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::run::{CHANNEL, WAKE};

/// Back to pending, due now, attempts reset: one delivery (`$1`), or every delivery to an
/// endpoint (`$2`) of an event created since `$3`.
const REPLAY_SQL: &str = r#"
    UPDATE h2s_event_deliveries d
    SET status = 'pending', attempts = 0, next_attempt_at = now(), leased_until = NULL,
        delivered_at = NULL, replays = d.replays + 1
    FROM h2s_events ev
    WHERE ev.event_id = d.event_id
      AND (d.delivery_id = $1 OR (d.endpoint_id = $2 AND ev.created_at >= $3))
"#;

/// Replays one delivery; `false` if there is none with this id.
pub async fn replay_one(pool: &PgPool, delivery_id: i64) -> Result<bool, sqlx::Error> {
    Ok(replay(pool, Some(delivery_id), None, None).await? == 1)
}

/// Replays every delivery to `endpoint_id` of an event since `since`; `None` if there is no
/// such endpoint, else how many.
pub async fn replay_since(
    pool: &PgPool,
    endpoint_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let known: Option<bool> =
        sqlx::query_scalar("SELECT true FROM h2s_event_endpoints WHERE endpoint_id = $1")
            .bind(endpoint_id)
            .fetch_optional(pool)
            .await?;
    match known {
        None => Ok(None),
        Some(_) => Ok(Some(
            replay(pool, None, Some(endpoint_id), Some(since)).await?,
        )),
    }
}

/// The replay, and the loop woken, in one transaction.
async fn replay(
    pool: &PgPool,
    delivery_id: Option<i64>,
    endpoint_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(REPLAY_SQL)
        .bind(delivery_id)
        .bind(endpoint_id)
        .bind(since)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(WAKE)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
