//! (a) Every paid order that breaks the invariant (no job, a job not linked both ways, a job
//! not `ready`) is repaired through `dispatch::ensure_job`, the function every other path
//! runs: rows written by older systems straight into the tables included.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    context::Ctx,
    queries::{Cursor, Page, Stmt},
    report::Repair,
    settings::SweepOptions,
};
use crate::{
    dispatch::{self, EnsureJobError, Ensured},
    orders::OrderId,
};

pub(super) async fn repair(ctx: &mut Ctx<'_>) {
    let mut cursor = Cursor::start();
    loop {
        if ctx.stopping() {
            return;
        }
        let rows: Vec<(OrderId, DateTime<Utc>)> = match invariant_violations(&cursor, ctx.options)
            .query_as()
            .fetch_all(ctx.pool)
            .await
        {
            Ok(rows) => rows,
            Err(e) => return ctx.report.fail(Repair::Orphan, None, e),
        };
        let full = rows.len() >= ctx.options.batch_size as usize;
        for (order_id, created_at) in rows {
            if ctx.stopping() {
                return;
            }
            cursor = Cursor {
                created_at,
                order_id: order_id.clone(),
            };
            if ctx.options.dry_run {
                tracing::info!(order_id = %order_id, "dry run: would bring the paid order's job in line");
                ctx.report.orphans_repaired += 1;
                continue;
            }
            match repair_one(ctx.pool, &order_id).await {
                Ok(ensured) if ensured.repaired() => {
                    tracing::info!(
                        order_id = %order_id,
                        job_id = %ensured.job_id,
                        created = ensured.created,
                        linked = ensured.linked,
                        readied = ensured.status_changed,
                        "invariant restored: the paid order has its one ready job, linked both ways"
                    );
                    ctx.report.orphans_repaired += 1;
                }
                Ok(_) => {
                    tracing::debug!(order_id = %order_id, "repaired meanwhile by another layer")
                }
                Err(e) => ctx.report.fail(Repair::Orphan, Some(&order_id), e),
            }
        }
        if !full {
            return;
        }
    }
}

/// One order, one transaction, under the order's row lock (taken by `ensure_job`): if
/// another layer repaired it since the batch was read, nothing changes and the report does
/// not count it.
async fn repair_one(pool: &PgPool, order_id: &OrderId) -> Result<Ensured, EnsureJobError> {
    let mut tx = pool.begin().await?;
    let ensured = dispatch::ensure_job(&mut tx, order_id).await?;
    tx.commit().await?;
    Ok(ensured)
}

/// (a) Paid orders that break the invariant: the one named query,
/// [`crate::invariant::VIOLATIONS_SQL`] (indexes `h2s_orders_paid_unlinked` and
/// `h2s_dispatch_jobs_not_ready`).
pub(super) fn invariant_violations(after: &Cursor, options: &SweepOptions) -> Stmt {
    Stmt::new("invariant_violations", crate::invariant::VIOLATIONS_SQL).page(after, options)
}
