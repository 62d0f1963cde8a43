//! (c) Checkouts whose session was never created and whose `Checkout` outbox task is dead or
//! missing: re-enqueued through `outbox::enqueue`, under the same idempotency key.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Ctx,
    queries::{self, Cursor},
    report::Repair,
};
use crate::{
    orders::OrderId,
    outbox::{self, OutboxTask},
};

pub(super) async fn repair(ctx: &mut Ctx<'_>) {
    let mut cursor = Cursor::start();
    loop {
        if ctx.stopping() {
            return;
        }
        let rows: Vec<(OrderId, DateTime<Utc>, Uuid)> =
            match queries::checkouts_without_session(&cursor, ctx.options)
                .query_as()
                .fetch_all(ctx.pool)
                .await
            {
                Ok(rows) => rows,
                Err(e) => return ctx.report.fail(Repair::Requeue, None, e),
            };
        let full = rows.len() >= ctx.options.batch_size as usize;
        let Some((order_id, created_at, _)) = rows.last() else {
            return;
        };
        cursor = Cursor {
            created_at: *created_at,
            order_id: order_id.clone(),
        };
        let tasks: Vec<OutboxTask> = rows
            .into_iter()
            .map(|(order_id, _, checkout_trace_id)| OutboxTask::Checkout {
                order_id,
                checkout_trace_id,
                request_id: None,
            })
            .collect();
        // A task still alive (pending, queued, running, retrying) will finish by itself.
        let keys: Vec<String> = tasks.iter().map(OutboxTask::idempotency_key).collect();
        let live: HashSet<String> = match queries::live_task_keys(&keys)
            .query_as::<(String,)>()
            .fetch_all(ctx.pool)
            .await
        {
            Ok(rows) => rows.into_iter().map(|(key,)| key).collect(),
            Err(e) => return ctx.report.fail(Repair::Requeue, None, e),
        };
        for task in tasks
            .iter()
            .filter(|t| !live.contains(&t.idempotency_key()))
        {
            if ctx.stopping() {
                return;
            }
            let order_id = task.order_id();
            if ctx.options.dry_run {
                tracing::info!(order_id = %order_id, "dry run: would re-enqueue the checkout");
                ctx.report.requeued += 1;
                continue;
            }
            match requeue_one(ctx.pool, task).await {
                Ok(true) => {
                    tracing::info!(order_id = %order_id, "checkout without a session re-enqueued");
                    ctx.report.requeued += 1;
                }
                Ok(false) => {}
                Err(e) => ctx.report.fail(Repair::Requeue, Some(order_id), e),
            }
        }
        if !full {
            return;
        }
    }
}

/// Under the order's row lock (the worker's checkout step takes it too): still no session and
/// still payable? Then enqueue, which inserts a missing row or revives a dead one, and leaves
/// a live one alone.
async fn requeue_one(pool: &PgPool, task: &OutboxTask) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let still_lost: Option<bool> = sqlx::query_scalar(
        r#"
        SELECT status = 'pending_payment' AND stripe_session_id IS NULL
        FROM h2s_orders WHERE order_id = $1
        FOR UPDATE
        "#,
    )
    .bind(task.order_id())
    .fetch_optional(&mut *tx)
    .await?;
    if still_lost != Some(true) {
        return Ok(false);
    }
    outbox::enqueue(&mut tx, task).await?;
    tx.commit().await?;
    Ok(true)
}
