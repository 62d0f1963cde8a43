//! (c) Checkouts whose session was never created and whose `Checkout` outbox task is dead or
//! missing: re-enqueued through `outbox::enqueue`, under the same idempotency key (the outbox
//! row is revived, and Stripe replays rather than creates a second session).
//!
//! There is no upper age here: the worker's checkout step itself refuses to create a session
//! past `checkout::fulfil::SESSION_CREATION_WINDOW` (23 h; Stripe forgets idempotency keys
//! after 24 h) and fails the order with the reason, so a re-enqueued old checkout ends `failed`
//! instead of staying pending behind a dead task. Legacy rows (no `checkout_trace_id`) never
//! had a checkout task here and are left alone.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    context::Ctx,
    queries::{Cursor, Page, Stmt, secs},
    report::Repair,
    settings::SweepOptions,
};
use crate::{
    orders::OrderId,
    outbox::{self, OutboxTask, QUEUE},
};

pub(super) async fn repair(ctx: &mut Ctx<'_>) {
    let mut cursor = Cursor::start();
    loop {
        if ctx.stopping() {
            return;
        }
        let rows: Vec<(OrderId, DateTime<Utc>, Uuid)> =
            match checkouts_without_session(&cursor, ctx.options)
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
                inputs: None,
            })
            .collect();
        let lost = match without_live_task(ctx, tasks).await {
            Ok(lost) => lost,
            Err(e) => return ctx.report.fail(Repair::Requeue, None, e),
        };
        for task in &lost {
            if ctx.stopping() {
                return;
            }
            requeue(ctx, task).await;
        }
        if !full {
            return;
        }
    }
}

/// The tasks whose outbox row is dead or missing: a task still alive (pending, queued,
/// running, retrying) will finish by itself.
async fn without_live_task(
    ctx: &Ctx<'_>,
    tasks: Vec<OutboxTask>,
) -> Result<Vec<OutboxTask>, sqlx::Error> {
    let keys: Vec<String> = tasks.iter().map(OutboxTask::idempotency_key).collect();
    let live: HashSet<String> = live_task_keys(&keys)
        .query_as::<(String,)>()
        .fetch_all(ctx.pool)
        .await?
        .into_iter()
        .map(|(key,)| key)
        .collect();
    Ok(tasks
        .into_iter()
        .filter(|t| !live.contains(&t.idempotency_key()))
        .collect())
}

/// One lost checkout re-enqueued (or, in a dry run, counted).
async fn requeue(ctx: &mut Ctx<'_>, task: &OutboxTask) {
    let order_id = task.order_id();
    if ctx.options.dry_run {
        tracing::info!(order_id = %order_id, "dry run: would re-enqueue the checkout");
        ctx.report.requeued += 1;
        return;
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

/// (c) Checkouts of this system (they carry a trace id) with no session, older than
/// `requeue_after` (index `h2s_orders_checkout_without_session`).
pub(super) fn checkouts_without_session(after: &Cursor, options: &SweepOptions) -> Stmt {
    Stmt::new(
        "checkouts_without_session",
        r#"
        SELECT order_id, created_at, checkout_trace_id
        FROM h2s_orders
        WHERE status = 'pending_payment' AND stripe_session_id IS NULL
          AND checkout_trace_id IS NOT NULL
          AND created_at < now() - make_interval(secs => $1)
          AND (created_at, order_id) > ($2, $3)
        ORDER BY created_at, order_id
        LIMIT $4
        "#,
    )
    .bind(secs(options.requeue_after))
    .page(after, options)
}

/// (c) Of these idempotency keys, those whose task is alive (or done): not to re-enqueue.
/// Served by apalis's unique `(job_type, idempotency_key)` index.
pub(super) fn live_task_keys(keys: &[String]) -> Stmt {
    Stmt::new(
        "live_task_keys",
        r#"
        SELECT idempotency_key
        FROM apalis.jobs
        WHERE job_type = $1 AND idempotency_key = ANY($2)
          AND NOT (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
        "#,
    )
    .bind(QUEUE)
    .bind(keys.to_vec())
}
