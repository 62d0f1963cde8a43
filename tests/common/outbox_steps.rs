//! The outbox driven one task at a time, in-process: what the worker's runtime does for an
//! attempt, without apalis, so that a test that is not about concurrency runs the queue
//! exactly (crates.io's `run_pending_background_jobs`). Shared by `tests/api` and
//! `tests/lifecycle` (each includes this file with `#[path]`).

#![allow(dead_code)]

use h2s_dispatch::{
    outbox::{OutboxTask, QUEUE, TaskError, attempt_limit},
    queue::{Attempt, TaskHandler},
};
use sqlx::PgPool;

/// An outbox row that may run now (pending, or failed with attempts left), backoff ignored.
pub struct Runnable {
    pub id: String,
    pub task: OutboxTask,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// The oldest runnable task; with `key`, only the task of that idempotency key.
pub async fn next_runnable(pool: &PgPool, key: Option<&str>) -> Option<Runnable> {
    let row: Option<(String, serde_json::Value, i32, i32)> = sqlx::query_as(
        r#"
        SELECT id, convert_from(job, 'UTF8')::jsonb, attempts, max_attempts FROM apalis.jobs
        WHERE job_type = $1 AND ($2::text IS NULL OR idempotency_key = $2)
          AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
        ORDER BY run_at, id
        LIMIT 1
        "#,
    )
    .bind(QUEUE)
    .bind(key)
    .fetch_optional(pool)
    .await
    .expect("the outbox");
    let (id, payload, attempts, max_attempts) = row?;
    Some(Runnable {
        id,
        task: serde_json::from_value(payload).expect("an outbox task"),
        attempts,
        max_attempts,
    })
}

/// Records one attempt of `runnable` as the runtime does, under a worker whose policy allows
/// `policy_max_attempts`: `Done`; a failed attempt counted (the row brought to the policy),
/// an outage always keeping one more; `Killed` for a permanent error. `None`: the attempt
/// crashed, which spends an attempt against the limit in force (`outbox::attempt_limit`: a
/// row no attempt has failed yet carries none of its own) and nothing else.
pub async fn finish(
    pool: &PgPool,
    runnable: &Runnable,
    outcome: Option<Result<(), TaskError>>,
    policy_max_attempts: i32,
) {
    let (attempts, max) = (runnable.attempts + 1, runnable.max_attempts);
    let (status, max) = match outcome {
        None => ("Failed", attempt_limit(max, policy_max_attempts)),
        Some(Ok(())) => ("Done", max),
        Some(Err(TaskError::Outage { .. })) => {
            ("Failed", policy_max_attempts.max(runnable.attempts + 2))
        }
        Some(Err(TaskError::Retryable { .. })) => ("Failed", policy_max_attempts),
        Some(Err(TaskError::Permanent { .. })) => ("Killed", max),
    };
    sqlx::query(
        r#"
        UPDATE apalis.jobs
        SET status = $2, attempts = $3, max_attempts = $4, lock_by = NULL, lock_at = NULL,
            done_at = now()
        WHERE id = $1
        "#,
    )
    .bind(&runnable.id)
    .bind(status)
    .bind(attempts)
    .bind(max)
    .execute(pool)
    .await
    .expect("the task row updated");
}

/// The attempt a handler runs `runnable` as. The row is not claimed (no `lock_by`), so a
/// task that completes itself in its transaction leaves the row to [`finish`].
pub fn attempt(runnable: &Runnable) -> Attempt {
    Attempt::new(&runnable.id, "in-process", runnable.attempts + 1)
}

/// Runs runnable tasks one at a time until none is left (tasks that others enqueue included),
/// at most `max_runs` attempts; returns how many ran.
pub async fn run_pending_tasks(
    pool: &PgPool,
    handler: &impl TaskHandler<Job = OutboxTask>,
    policy_max_attempts: i32,
    max_runs: usize,
) -> usize {
    let mut runs = 0;
    while runs < max_runs {
        let Some(runnable) = next_runnable(pool, None).await else {
            break;
        };
        let outcome = handler
            .handle(runnable.task.clone(), attempt(&runnable))
            .await;
        finish(pool, &runnable, Some(outcome), policy_max_attempts).await;
        runs += 1;
    }
    runs
}
