//! (b) Sessions retrieved one by one, only where the Events API cannot answer, and applied
//! through `payments::apply_session`, exactly as the webhook applies them:
//! - [`retrieve_past_expiry`]: a `pending_payment` order whose session passed its
//!   `expires_at` with no terminal event seen — once per order, ever;
//! - [`apply_stale`]: every stale unpaid order, once, when the event cursor fell out of
//!   Stripe's 30-day event window (see `event_catchup`).

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::PgPool;

use super::{
    context::Ctx,
    queries::{Cursor, Page, Stmt, limit, secs},
    report::Repair,
    settings::SweepOptions,
};
use crate::{
    orders::{
        OrderId, OrderStatus,
        transition::{self, PaymentEvent},
    },
    payments::{self, Applied, ApplyError},
    stored::Stored,
    stripe::{SessionFacts, StripeCallError, sessions},
};

type Row = (OrderId, DateTime<Utc>, String, Stored<OrderStatus>);

pub(super) async fn apply_stale(ctx: &mut Ctx<'_>) {
    let mut cursor = Cursor::start();
    loop {
        if ctx.stopping() {
            return;
        }
        let rows: Vec<Row> = match stale_unpaid(&cursor, ctx.options)
            .query_as()
            .fetch_all(ctx.pool)
            .await
        {
            Ok(rows) => rows,
            Err(e) => return ctx.report.fail(Repair::MissedPayment, None, e),
        };
        let full = rows.len() >= ctx.options.batch_size as usize;
        if let Some((order_id, created_at, _, _)) = rows.last() {
            cursor = Cursor {
                created_at: *created_at,
                order_id: order_id.clone(),
            };
        }
        for (order_id, status, session) in retrieve_all(ctx, rows).await {
            if ctx.stopping() {
                return;
            }
            apply_retrieved(ctx, &order_id, &status, session).await;
        }
        if !full {
            return;
        }
    }
}

/// The rows' sessions from Stripe, a few calls at a time, outside any transaction.
async fn retrieve_all(
    ctx: &mut Ctx<'_>,
    rows: Vec<Row>,
) -> Vec<(
    OrderId,
    Stored<OrderStatus>,
    Result<SessionFacts, StripeCallError>,
)> {
    ctx.report.stripe_calls += rows.len() as u64;
    ctx.report.sessions_retrieved += rows.len() as u64;
    let stripe = ctx.stripe();
    futures::stream::iter(rows)
        .map(|(order_id, _, session_id, status)| async move {
            let session = sessions::retrieve(stripe, &session_id).await;
            (order_id, status, session)
        })
        .buffer_unordered(ctx.options.stripe_concurrency.max(1))
        .collect()
        .await
}

/// What one stale order's retrieved session says, applied (or, in a dry run, counted).
async fn apply_retrieved(
    ctx: &mut Ctx<'_>,
    order_id: &OrderId,
    status: &Stored<OrderStatus>,
    session: Result<SessionFacts, StripeCallError>,
) {
    let facts = match session {
        Ok(facts) => facts,
        Err(e) => {
            return ctx.report.fail(
                Repair::MissedPayment,
                Some(order_id),
                format_args!("retrieving its Stripe session: {e}"),
            );
        }
    };
    let Some(event) = facts.observed_event() else {
        tracing::debug!(order_id = %order_id, "session still open: left alone");
        return;
    };
    if ctx.options.dry_run {
        let now = status.known().and_then(|s| transition::next(s, event));
        count(ctx, order_id, now, "dry run: would apply the session");
        return;
    }
    match apply(ctx.pool, &facts, event).await {
        Ok(applied) => {
            let now = applied.changed.map(|(_, now)| now);
            count(
                ctx,
                &applied.order_id,
                now,
                "missed session outcome applied",
            );
        }
        Err(e) => ctx.report.fail(Repair::MissedPayment, Some(order_id), e),
    }
}

/// Orders whose session expired with no terminal event seen: retrieved once each (then
/// marked `stripe_session_checked_at`, whatever the answer), one batch per sweep.
pub(super) async fn retrieve_past_expiry(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    let rows: Vec<(OrderId, String)> = match sessions_past_expiry(ctx.options)
        .query_as()
        .fetch_all(ctx.pool)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return ctx.report.fail(Repair::MissedPayment, None, e),
    };
    for (order_id, session_id) in rows {
        if ctx.stopping() {
            return;
        }
        ctx.report.stripe_calls += 1;
        ctx.report.sessions_retrieved += 1;
        let facts = match sessions::retrieve(ctx.stripe(), &session_id).await {
            Ok(facts) => facts,
            Err(e) => {
                ctx.report.fail(
                    Repair::MissedPayment,
                    Some(&order_id),
                    format_args!("retrieving its expired Stripe session: {e}"),
                );
                continue;
            }
        };
        let event = facts.observed_event();
        if ctx.options.dry_run {
            let status = OrderStatus::PendingPayment;
            let now = event.and_then(|e| transition::next(status, e));
            count(
                ctx,
                &order_id,
                now,
                "dry run: would apply the expired session",
            );
            continue;
        }
        match apply_checked(ctx.pool, &order_id, &facts, event).await {
            Ok(now) => count(ctx, &order_id, now, "expired session's outcome applied"),
            Err(e) => ctx.report.fail(Repair::MissedPayment, Some(&order_id), e),
        }
    }
}

/// Applies what a retrieved session says (if it ended) and marks the order checked, in one
/// transaction.
async fn apply_checked(
    pool: &PgPool,
    order_id: &OrderId,
    facts: &SessionFacts,
    event: Option<PaymentEvent>,
) -> Result<Option<OrderStatus>, ApplyError> {
    let mut tx = pool.begin().await?;
    let now = match event {
        Some(event) => payments::apply_session(&mut tx, facts, event)
            .await?
            .changed
            .map(|(_, now)| now),
        None => None,
    };
    crate::orders::repo::mark_session_checked(&mut tx, order_id).await?;
    tx.commit().await?;
    Ok(now)
}

/// One order, one transaction: the same call the webhook makes.
pub(super) async fn apply(
    pool: &PgPool,
    facts: &SessionFacts,
    event: PaymentEvent,
) -> Result<Applied, ApplyError> {
    let mut tx = pool.begin().await?;
    let applied = payments::apply_session(&mut tx, facts, event).await?;
    tx.commit().await?;
    Ok(applied)
}

fn count(ctx: &mut Ctx<'_>, order_id: &OrderId, now: Option<OrderStatus>, what: &str) {
    let Some(now) = now else {
        return; // nothing to change (another layer got there first, or a no-op event)
    };
    ctx.report.count_move(now);
    tracing::info!(order_id = %order_id, status = now.as_str(), "{what}");
}

/// (b) Unpaid orders older than `stale_after` with a stored session (index `h2s_orders_unpaid`).
pub(super) fn stale_unpaid(after: &Cursor, options: &SweepOptions) -> Stmt {
    Stmt::new(
        "stale_unpaid",
        r#"
        SELECT order_id, created_at, stripe_session_id, status
        FROM h2s_orders
        WHERE status IN ('pending_payment', 'awaiting_payment')
          AND stripe_session_id IS NOT NULL
          AND created_at < now() - make_interval(secs => $1)
          AND (created_at, order_id) > ($2, $3)
        ORDER BY created_at, order_id
        LIMIT $4
        "#,
    )
    .bind(secs(options.stale_after))
    .page(after, options)
}

/// (b) `pending_payment` orders whose session passed its `expires_at` (by `expiry_grace`)
/// with no terminal event seen, and not retrieved before: one retrieval per order, ever
/// (indexes `h2s_orders_session_past_expiry`, and `h2s_orders_session_expiry_unknown` for
/// sessions stored without an expiry by older systems: Stripe's last at most 24 h).
pub(super) fn sessions_past_expiry(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "sessions_past_expiry",
        r#"
        (SELECT order_id, stripe_session_id
         FROM h2s_orders
         WHERE status = 'pending_payment' AND stripe_session_checked_at IS NULL
           AND stripe_session_id IS NOT NULL AND stripe_session_expires_at IS NOT NULL
           AND stripe_session_expires_at < now() - make_interval(secs => $1)
         ORDER BY stripe_session_expires_at
         LIMIT $2)
        UNION ALL
        (SELECT order_id, stripe_session_id
         FROM h2s_orders
         WHERE status = 'pending_payment' AND stripe_session_checked_at IS NULL
           AND stripe_session_id IS NOT NULL AND stripe_session_expires_at IS NULL
           AND created_at < now() - make_interval(secs => $1) - interval '24 hours'
         ORDER BY created_at
         LIMIT $2)
        "#,
    )
    .bind(secs(options.expiry_grace))
    .bind(limit(options))
}
