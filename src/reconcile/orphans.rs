//! (a) Paid orders with no dispatch job get exactly one, through `dispatch::ensure_job`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Ctx,
    queries::{self, Cursor},
    report::Repair,
};
use crate::{
    dispatch::{self, EnsureJobError},
    orders::OrderId,
};

pub(super) async fn repair(ctx: &mut Ctx<'_>) {
    let mut cursor = Cursor::start();
    loop {
        if ctx.stopping() {
            return;
        }
        let rows: Vec<(OrderId, DateTime<Utc>)> =
            match queries::paid_without_job(&cursor, ctx.options)
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
                tracing::info!(order_id = %order_id, "dry run: would create the missing dispatch job");
                ctx.report.orphans_repaired += 1;
                continue;
            }
            match repair_one(ctx.pool, &order_id).await {
                Ok(Some(job_id)) => {
                    tracing::info!(order_id = %order_id, %job_id, "orphan repaired: dispatch job created and linked");
                    ctx.report.orphans_repaired += 1;
                }
                Ok(None) => {
                    tracing::debug!(order_id = %order_id, "linked meanwhile by another layer")
                }
                Err(e) => ctx.report.fail(Repair::Orphan, Some(&order_id), e),
            }
        }
        if !full {
            return;
        }
    }
}

/// One order, one transaction. `None` if, under the order's row lock, it turns out another
/// layer (the worker's `EnsureDispatchJob`, say) linked a job since the batch was read: then
/// it is not this sweep's repair, and the report does not count it.
async fn repair_one(pool: &PgPool, order_id: &OrderId) -> Result<Option<Uuid>, EnsureJobError> {
    let mut tx = pool.begin().await?;
    let still_orphan: Option<bool> = sqlx::query_scalar(
        r#"
        SELECT status = 'paid' AND dispatch_job_id IS NULL
        FROM h2s_orders WHERE order_id = $1
        FOR UPDATE
        "#,
    )
    .bind(order_id)
    .fetch_optional(&mut *tx)
    .await?;
    if still_orphan != Some(true) {
        return Ok(None);
    }
    let job_id = dispatch::ensure_job(&mut tx, order_id).await?;
    tx.commit().await?;
    Ok(Some(job_id))
}
