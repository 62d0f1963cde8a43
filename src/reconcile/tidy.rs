//! (d) Dead outbox tasks of every kind, revived after a backoff and counted; (e) finished
//! outbox rows past the retention, deleted.

use super::{Ctx, queries, report::Repair};
use crate::outbox::runtime;

/// Dead tasks (a notification whose endpoint was down for an hour, a job task that met a
/// database outage, a checkout (c) did not cover) get fresh attempts once their backoff
/// passed: `revive_after`, doubling with each revival of the same task.
pub(super) async fn revive_dead(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    let stmt = if ctx.options.dry_run {
        queries::count_revivable(ctx.options)
    } else {
        queries::revive_dead(ctx.options)
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
    match runtime::dead_tasks(ctx.pool).await {
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

pub(super) async fn delete_finished(ctx: &mut Ctx<'_>) {
    if ctx.options.dry_run {
        if ctx.stopping() {
            return;
        }
        match queries::count_finished(ctx.options)
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
        match queries::delete_finished(ctx.options)
            .query()
            .execute(ctx.pool)
            .await
        {
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
