//! The delivery log's retention: attempts older than the period, deliveries delivered or
//! failed that long ago, and events left with no delivery, are deleted in small batches
//! (every replica may prune; deletes of the same rows just wait on each other).

use std::time::Duration;

use sqlx::PgPool;

/// How often the loop prunes.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Rows per statement, so that no prune holds many locks or runs long.
const BATCH: i64 = 1000;

const PRUNES: [&str; 3] = [
    r#"DELETE FROM h2s_delivery_attempts WHERE attempt_id IN (
           SELECT attempt_id FROM h2s_delivery_attempts
           WHERE started_at < now() - $1 * interval '1 second' LIMIT $2)"#,
    r#"DELETE FROM h2s_event_deliveries WHERE delivery_id IN (
           SELECT delivery_id FROM h2s_event_deliveries
           WHERE status <> 'pending' AND created_at < now() - $1 * interval '1 second'
             AND COALESCE(delivered_at, created_at) < now() - $1 * interval '1 second'
           LIMIT $2)"#,
    r#"DELETE FROM h2s_events WHERE event_id IN (
           SELECT event_id FROM h2s_events ev
           WHERE created_at < now() - $1 * interval '1 second'
             AND NOT EXISTS (SELECT 1 FROM h2s_event_deliveries d WHERE d.event_id = ev.event_id)
           LIMIT $2)"#,
];

/// Deletes what is older than `retention`; the number of rows deleted.
pub async fn prune(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    for sql in PRUNES {
        loop {
            let done = sqlx::query(sql)
                .bind(retention.as_secs_f64())
                .bind(BATCH)
                .execute(pool)
                .await?
                .rows_affected();
            total += done;
            if done < BATCH as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// [`prune`] in its own task, so that a long one never holds deliveries up.
pub fn prune_in_background(pool: &PgPool, retention: Duration) {
    let pool = pool.clone();
    tokio::spawn(async move {
        match prune(&pool, retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "event delivery log pruned"),
            Err(e) => tracing::warn!(error = %e, "event delivery log: pruning failed"),
        }
    });
}
