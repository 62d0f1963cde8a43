//! (d) Dead outbox tasks of every kind, revived after a backoff and counted; (e) finished
//! outbox rows past the retention, deleted (apalis never deletes them, and a growing queue
//! table slows every claim).

use super::{
    context::Ctx,
    queries::{Stmt, limit, secs},
    report::Repair,
    settings::SweepOptions,
};
use crate::outbox::{QUEUE, dead};

/// Dead tasks (a notification whose endpoint was down for an hour, a job task that met a
/// database outage, a checkout (c) did not cover) get fresh attempts once their backoff
/// passed: `revive_after`, doubling with each revival of the same task.
pub(super) async fn revive_dead_tasks(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    let stmt = if ctx.options.dry_run {
        count_revivable(ctx.options)
    } else {
        revive_dead(ctx.options)
    };
    match stmt.query_as::<(i64,)>().fetch_one(ctx.pool).await {
        Ok((n,)) => {
            ctx.report.revived_tasks = u64::try_from(n).unwrap_or(0);
            if n > 0 && !ctx.options.dry_run {
                tracing::warn!(revived = n, "dead outbox tasks revived with fresh attempts");
            }
        }
        Err(e) => ctx.report.fail(Repair::DeadTasks, None, e),
    }
}

pub(super) async fn count_dead(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    match dead::dead_tasks(ctx.pool).await {
        Ok(dead) => {
            ctx.report.dead_tasks = u64::try_from(dead.count).unwrap_or(0);
            ctx.report.oldest_dead_task_age_s = dead.oldest_age.map(|age| age.as_secs());
            if dead.count > 0 {
                tracing::warn!(
                    dead_tasks = dead.count,
                    oldest_age_s = ctx.report.oldest_dead_task_age_s,
                    "outbox tasks have exhausted their retries"
                );
            }
        }
        Err(e) => ctx.report.fail(Repair::DeadTasks, None, e),
    }
}

pub(super) async fn delete_finished_tasks(ctx: &mut Ctx<'_>) {
    if ctx.options.dry_run {
        if ctx.stopping() {
            return;
        }
        match count_finished(ctx.options)
            .query_as::<(i64,)>()
            .fetch_one(ctx.pool)
            .await
        {
            Ok((n,)) => ctx.report.deleted = u64::try_from(n).unwrap_or(0),
            Err(e) => ctx.report.fail(Repair::Housekeeping, None, e),
        }
        return;
    }
    loop {
        if ctx.stopping() {
            return;
        }
        match delete_finished(ctx.options).query().execute(ctx.pool).await {
            Ok(done) => {
                let n = done.rows_affected();
                ctx.report.deleted += n;
                if n < u64::from(ctx.options.delete_batch_size.max(1)) {
                    break;
                }
            }
            Err(e) => return ctx.report.fail(Repair::Housekeeping, None, e),
        }
    }
    if ctx.report.deleted > 0 {
        tracing::info!(
            deleted = ctx.report.deleted,
            "finished outbox tasks past the retention deleted"
        );
    }
}

/// (d) Dead tasks of every kind whose backoff has passed, revived with fresh attempts: the
/// `n`-th revival of a task waits `revive_after × 2^n` after its last attempt (capped at
/// 2^10), so a task that keeps dying is retried ever more rarely, never forgotten (index
/// `h2s_outbox_dead`). `SKIP LOCKED`: a row some other session holds waits for the next sweep.
pub(super) fn revive_dead(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "revive_dead",
        r#"
        WITH due AS (
            SELECT j.id
            FROM apalis.jobs j
            LEFT JOIN h2s_task_revivals r ON r.task_id = j.id
            WHERE j.job_type = $1
              AND (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
              AND COALESCE(j.done_at, j.run_at) < now()
                  - make_interval(secs => $2 * power(2::float8, LEAST(COALESCE(r.revivals, 0), 10)))
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
        "#,
    )
    .bind(QUEUE)
    .bind(secs(options.revive_after))
    .bind(limit(options))
}

/// (d) In a dry run: how many dead tasks a sweep would revive now.
pub(super) fn count_revivable(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "count_revivable",
        r#"
        SELECT count(*)
        FROM apalis.jobs j
        LEFT JOIN h2s_task_revivals r ON r.task_id = j.id
        WHERE j.job_type = $1
          AND (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
          AND COALESCE(j.done_at, j.run_at) < now()
              - make_interval(secs => $2 * power(2::float8, LEAST(COALESCE(r.revivals, 0), 10)))
        "#,
    )
    .bind(QUEUE)
    .bind(secs(options.revive_after))
}

/// (d) Dead tasks: the very query `outbox::dead::dead_tasks` runs (index `h2s_outbox_dead`),
/// here for [`explain`].
pub(super) fn dead_tasks() -> Stmt {
    Stmt::new("dead_tasks", crate::outbox::dead::DEAD_TASKS_SQL).bind(QUEUE)
}

/// (e) One batch of finished tasks past the retention, deleted (index `h2s_outbox_done`).
/// `SKIP LOCKED`: a row some other session holds is left for the next sweep.
pub(super) fn delete_finished(options: &SweepOptions) -> Stmt {
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
    .bind(secs(options.retention))
    .bind(i64::from(options.delete_batch_size.max(1)))
}

/// (e) In a dry run: how many finished tasks the retention would delete.
pub(super) fn count_finished(options: &SweepOptions) -> Stmt {
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
    .bind(secs(options.retention))
}
