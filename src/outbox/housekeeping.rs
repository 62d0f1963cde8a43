//! The outbox's housekeeping, which the reconciler's sweep runs: dead tasks of every kind
//! revived after a backoff, and finished rows past the retention deleted (apalis never
//! deletes them, and a growing queue table slows every claim). The statements are here, with
//! the outbox's other writes of `apalis.jobs`; the sweep calls [`revive_due`] and
//! [`delete_finished_batch`], and explains the same statements.

use std::time::Duration;

use sqlx::PgPool;

use super::QUEUE;
use crate::db::Stmt;

/// The dead tasks of queue `$1` whose backoff of `$2` seconds (doubled per revival) has
/// passed: the `FROM` and `WHERE` that [`revive_dead`] and [`count_revivable`] share.
macro_rules! revivable {
    () => {
        r#"
        FROM apalis.jobs j
        LEFT JOIN h2s_task_revivals r ON r.task_id = j.id
        WHERE j.job_type = $1
          AND (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
          AND COALESCE(j.done_at, j.run_at) < now()
              - make_interval(secs => $2 * power(2::float8, LEAST(COALESCE(r.revivals, 0), 10)))
        "#
    };
}

/// Dead tasks whose backoff has passed, revived with fresh attempts: the `n`-th revival of a
/// task waits `revive_after × 2^n` after its last attempt (capped at 2^10), so a task that
/// keeps dying is retried ever more rarely, never forgotten (index `h2s_outbox_dead`).
/// `SKIP LOCKED`: a row some other session holds waits for the next sweep. At most `limit`
/// rows; answers how many were revived.
pub fn revive_dead(revive_after: Duration, limit: i64) -> Stmt {
    Stmt::new(
        "revive_dead",
        concat!(
            "WITH due AS (SELECT j.id",
            revivable!(),
            r#"
            ORDER BY COALESCE(j.done_at, j.run_at)
            LIMIT $3
            FOR UPDATE OF j SKIP LOCKED
        ),
        revived AS (
            UPDATE apalis.jobs j
            SET status = 'Pending', attempts = 0, run_at = now(),
                lock_by = NULL, lock_at = NULL, done_at = NULL,
                -- What a checkout carried for its first run (`outbox::enqueue`).
                job = convert_to((convert_from(j.job, 'UTF8')::jsonb - 'inputs')::text, 'UTF8')
            FROM due WHERE j.id = due.id
            RETURNING j.id
        ),
        counted AS (
            INSERT INTO h2s_task_revivals (task_id, revivals, last_revived_at)
            SELECT id, 1, now() FROM revived
            ON CONFLICT (task_id) DO UPDATE
                SET revivals = h2s_task_revivals.revivals + 1, last_revived_at = now()
            RETURNING task_id
        )
        SELECT count(*) FROM counted
        "#
        ),
    )
    .bind(QUEUE)
    .bind(revive_after.as_secs_f64())
    .bind(limit)
}

/// In a dry run: how many dead tasks [`revive_dead`] would revive now.
pub fn count_revivable(revive_after: Duration) -> Stmt {
    Stmt::new("count_revivable", concat!("SELECT count(*)", revivable!()))
        .bind(QUEUE)
        .bind(revive_after.as_secs_f64())
}

/// One batch of at most `batch` finished tasks past `retention`, deleted (index
/// `h2s_outbox_done`). `SKIP LOCKED`: a row some other session holds is left for the next
/// sweep.
pub fn delete_finished(retention: Duration, batch: i64) -> Stmt {
    Stmt::new(
        "delete_finished",
        r#"
        DELETE FROM apalis.jobs
        WHERE id IN (
            SELECT id FROM apalis.jobs
            WHERE job_type = $1 AND status = 'Done'
              AND done_at < now() - make_interval(secs => $2)
            ORDER BY done_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        "#,
    )
    .bind(QUEUE)
    .bind(retention.as_secs_f64())
    .bind(batch)
}

/// In a dry run: how many finished tasks the retention would delete.
pub fn count_finished(retention: Duration) -> Stmt {
    Stmt::new(
        "count_finished",
        r#"
        SELECT count(*)
        FROM apalis.jobs
        WHERE job_type = $1 AND status = 'Done'
          AND done_at < now() - make_interval(secs => $2)
        "#,
    )
    .bind(QUEUE)
    .bind(retention.as_secs_f64())
}

/// Runs [`revive_dead`]: how many tasks were revived.
pub async fn revive_due(
    pool: &PgPool,
    revive_after: Duration,
    limit: i64,
) -> Result<i64, sqlx::Error> {
    let (n,) = revive_dead(revive_after, limit)
        .query_as::<(i64,)>()
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// Runs [`delete_finished`]: how many rows went.
pub async fn delete_finished_batch(
    pool: &PgPool,
    retention: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = delete_finished(retention, batch)
        .query()
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
