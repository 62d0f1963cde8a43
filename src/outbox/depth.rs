//! How deep the outbox is, per kind: what the metrics' gauges and the operator console show.

use sqlx::PgPool;

use super::QUEUE;

/// One outbox task kind's live and dead tasks (also shown by the operator console).
#[derive(sqlx::FromRow)]
pub struct KindRow {
    pub kind: String,
    pub depth: i64,
    pub oldest_age_s: f64,
    pub dead: i64,
}

/// Live and dead outbox tasks per kind. It reads only unfinished rows (`Done` ones are
/// skipped through apalis's status index), so it costs the queue's depth, not its history.
pub async fn outbox_by_kind(pool: &PgPool) -> Result<Vec<KindRow>, sqlx::Error> {
    sqlx::query_as(
        r#"
        WITH open AS (
            SELECT convert_from(job, 'UTF8')::jsonb ->> 'kind' AS kind, status, attempts,
                   max_attempts, run_at,
                   (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)) AS dead
            FROM apalis.jobs
            WHERE job_type = $1 AND status <> 'Done'
        )
        SELECT COALESCE(kind, 'unknown') AS kind,
               count(*) FILTER (WHERE NOT dead) AS depth,
               COALESCE(EXTRACT(EPOCH FROM now() - min(run_at)
                   FILTER (WHERE NOT dead AND status IN ('Pending', 'Failed') AND run_at <= now())
               )::float8, 0) AS oldest_age_s,
               count(*) FILTER (WHERE dead) AS dead
        FROM open
        GROUP BY 1
        "#,
    )
    .bind(QUEUE)
    .fetch_all(pool)
    .await
}
