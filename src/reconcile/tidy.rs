//! (d) Dead outbox tasks of every kind, revived after a backoff and counted; (e) finished
//! outbox rows past the retention, deleted. The statements are the outbox's
//! (`outbox::housekeeping`, the writer of its table); the sweep decides when and how many.

use super::{
    context::Ctx,
    queries::{Stmt, limit},
    report::Repair,
    settings::SweepOptions,
};
use crate::outbox::{QUEUE, dead, housekeeping};

/// Dead tasks (a notification whose endpoint was down for an hour, a job task that met a
/// database outage, a checkout (c) did not cover) get fresh attempts once their backoff
/// passed: `revive_after`, doubling with each revival of the same task.
pub(super) async fn revive_dead_tasks(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    let options = ctx.options;
    let counted = if options.dry_run {
        count_revivable(options)
            .query_as::<(i64,)>()
            .fetch_one(ctx.pool)
            .await
            .map(|(n,)| n)
    } else {
        housekeeping::revive_due(ctx.pool, options.revive_after, limit(options)).await
    };
    match counted {
        Ok(n) => {
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
        let (retention, batch) = (ctx.options.retention, delete_batch(ctx.options));
        match housekeeping::delete_finished_batch(ctx.pool, retention, batch).await {
            Ok(n) => {
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

/// (d) In a dry run: how many dead tasks a sweep would revive now.
pub(super) fn count_revivable(options: &SweepOptions) -> Stmt {
    housekeeping::count_revivable(options.revive_after)
}

/// (d) Dead tasks: the very query `outbox::dead::dead_tasks` runs (index `h2s_outbox_dead`),
/// here for [`explain`].
pub(super) fn dead_tasks() -> Stmt {
    Stmt::new("dead_tasks", crate::outbox::dead::DEAD_TASKS_SQL).bind(QUEUE)
}

/// (e) One batch of finished tasks past the retention, deleted: what the sweep runs.
pub(super) fn delete_finished(options: &SweepOptions) -> Stmt {
    housekeeping::delete_finished(options.retention, delete_batch(options))
}

/// (e) In a dry run: how many finished tasks the retention would delete.
pub(super) fn count_finished(options: &SweepOptions) -> Stmt {
    housekeeping::count_finished(options.retention)
}

fn delete_batch(options: &SweepOptions) -> i64 {
    i64::from(options.delete_batch_size.max(1))
}
