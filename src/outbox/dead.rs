//! Dead outbox tasks (retries exhausted, or killed by a permanent error): counted for the
//! reconciler and the metrics, listed for the operator, and brought back one at a time.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use super::QUEUE;

/// A task that exhausted its retries (or was killed as permanent).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeadTask {
    /// What `POST /api/admin/outbox/{id}/retry` takes.
    pub id: String,
    pub task: Option<serde_json::Value>,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_result: Option<serde_json::Value>,
    pub run_at: chrono::DateTime<chrono::Utc>,
    pub done_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Dead tasks, oldest first; `max_attempts` as [`super::attempt_limit`] has it for a worker
/// whose policy allows `policy_max` (a task killed at once has no limit of a worker's).
pub async fn list_dead(
    pool: &PgPool,
    limit: i64,
    policy_max: i32,
) -> Result<Vec<DeadTask>, sqlx::Error> {
    let mut tasks: Vec<DeadTask> = sqlx::query_as(
        r#"
        SELECT id, convert_from(job, 'UTF8')::jsonb AS task, status, attempts, max_attempts,
               last_result, run_at, done_at
        FROM apalis.jobs
        WHERE job_type = $1
          AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
        ORDER BY run_at
        LIMIT $2
        "#,
    )
    .bind(QUEUE)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for task in &mut tasks {
        task.max_attempts = super::attempt_limit(task.max_attempts, policy_max);
    }
    Ok(tasks)
}

/// Gives a dead task fresh attempts, to run now. `false` if no dead task has this id.
pub async fn revive(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        UPDATE apalis.jobs
        SET status = 'Pending', attempts = 0, run_at = now(),
            lock_by = NULL, lock_at = NULL, done_at = NULL,
            -- What a checkout carried for its first run (`outbox::enqueue`).
            job = convert_to((convert_from(job, 'UTF8')::jsonb - 'inputs')::text, 'UTF8')
        WHERE id = $1 AND job_type = $2
          AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
        "#,
    )
    .bind(id)
    .bind(QUEUE)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Dead tasks of the outbox queue: retries exhausted, or killed by a permanent error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadTasks {
    pub count: i64,
    /// Since the oldest one's last attempt.
    pub oldest_age: Option<Duration>,
}

/// The dead-task count and oldest age of queue `$1` (the reconciler EXPLAINs this same text).
pub const DEAD_TASKS_SQL: &str = r#"
    SELECT count(*),
           EXTRACT(EPOCH FROM now() - min(COALESCE(done_at, run_at)))::float8
    FROM apalis.jobs
    WHERE job_type = $1
      AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
    "#;

/// Dead tasks (retries exhausted, or killed) of the outbox queue: the reconciler reports them.
pub async fn dead_tasks(pool: &PgPool) -> Result<DeadTasks, sqlx::Error> {
    let (count, oldest_secs): (i64, Option<f64>) = sqlx::query_as(DEAD_TASKS_SQL)
        .bind(QUEUE)
        .fetch_one(pool)
        .await?;
    Ok(DeadTasks {
        count,
        oldest_age: oldest_secs.map(|s| Duration::from_secs_f64(s.max(0.0))),
    })
}
