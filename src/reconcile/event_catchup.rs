//! (b) Missed webhooks, found through Stripe's Events API rather than by asking Stripe about
//! every open cart: each sweep lists the `checkout.session.*`, refund and dispute events
//! ([`TYPES`]) created since a cursor
//! stored in Postgres (100 per call, newest first, paged with `starting_after`) and applies
//! each, oldest first, through the webhook's own path (`payments::handle_event`): the event id is
//! recorded in the same table, so an event both delivered and listed has its effect once.
//! A sweep's Stripe calls follow the number of new events (one per 100), not open carts.
//!
//! The cursor is kept `OVERLAP` behind the time of the last listing: an event becomes
//! listable a little after its `created`, and re-reading a few minutes is free of effects.
//! With no cursor yet, the first listing starts at the oldest unpaid order that has a session
//! (events cannot concern older ones). A cursor older than Stripe's 30-day event window means
//! events were lost for good: that once, the stale unpaid orders' sessions are retrieved one
//! by one (`session_checks::apply_stale`), and the cursor restarts inside the window.

use chrono::{DateTime, Utc};

use super::{context::Ctx, queries::Stmt, report::Repair, session_checks};
use crate::{
    orders::{OrderStatus, repo, transition},
    payments::handle_event::{self, Outcome, Source},
    stripe::{SessionFacts, events::StripeEvent},
};

/// The cursor's name in `h2s_sweep_cursors`.
pub const CURSOR: &str = "stripe_events";
/// How long Stripe lists events for.
pub const EVENT_WINDOW_S: i64 = 30 * 86_400;
/// Margin kept inside the event window, so a restarted cursor is not at its very edge.
const WINDOW_MARGIN_S: i64 = 3_600;
/// How far behind the last listing the cursor stays.
pub const OVERLAP_S: i64 = 300;
/// Events per call (Stripe's maximum).
const PAGE: usize = 100;
/// The event types a sweep lists: those the webhook acts on (the reader's one list).
pub const TYPES: [&str; 15] = crate::stripe::events::ACTED_ON;

pub(super) async fn catch_up(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    let (stored, now) = match load(ctx).await {
        Ok(found) => found,
        Err(e) => return ctx.report.fail(Repair::MissedPayment, None, e),
    };
    let window_start = now - EVENT_WINDOW_S + WINDOW_MARGIN_S;
    let since = match stored {
        Some(position) if position >= window_start => position,
        Some(position) => {
            tracing::warn!(
                cursor = position,
                "the event cursor is older than Stripe's 30-day event window: retrieving stale \
                 unpaid orders' sessions one by one, this once"
            );
            session_checks::apply_stale(ctx).await;
            window_start
        }
        None => match first_position(ctx).await {
            Ok(position) => position.max(window_start),
            Err(e) => return ctx.report.fail(Repair::MissedPayment, None, e),
        },
    };
    let events = match list_since(ctx, since).await {
        Ok(events) => events,
        Err(e) => {
            return ctx.report.fail(
                Repair::MissedPayment,
                None,
                format_args!("listing Stripe events: {e}"),
            );
        }
    };
    ctx.report.events_listed += events.len() as u64;
    // Oldest first, as Stripe created them (the list is newest first).
    for event in events.iter().rev() {
        if ctx.stopping() {
            return;
        }
        let Some(event) = StripeEvent::from_json(event) else {
            tracing::warn!("an event without an id or a type was listed: skipped");
            continue;
        };
        apply(ctx, &event).await;
    }
    if !ctx.options.dry_run
        && let Err(e) = store(ctx, since.max(now - OVERLAP_S)).await
    {
        ctx.report.fail(Repair::MissedPayment, None, e);
    }
}

/// One listed event through the webhook's path (or, in a dry run, what it would do).
async fn apply(ctx: &mut Ctx<'_>, event: &StripeEvent) {
    if ctx.options.dry_run {
        let Some((payment_event, facts)) = &event.payment else {
            return;
        };
        match would_change(ctx, event, facts, *payment_event).await {
            Ok(now) => count(ctx, event, now),
            Err(e) => ctx.report.fail(Repair::MissedPayment, None, e),
        }
        return;
    }
    // Listed with the sweep's key: in its mode by construction.
    match handle_event::handle(
        &crate::queue::Commits::notifying(ctx.pool.clone()),
        event,
        Source::EventsApi,
        None,
    )
    .await
    {
        Ok(Outcome::Applied(applied)) => {
            if let Some((_, now)) = applied.changed {
                tracing::info!(
                    order_id = %applied.order_id,
                    event_id = %event.id,
                    status = now.as_str(),
                    "missed event applied from Stripe's event list"
                );
            }
            count(ctx, event, applied.changed.map(|(_, now)| now));
        }
        Ok(_) => {} // seen before (by the webhook or an earlier sweep), or not ours to act on
        Err(e) => ctx.report.fail(
            Repair::MissedPayment,
            None,
            format_args!("event {}: {e}", event.id),
        ),
    }
}

/// Dry run: the status the event would move its order to (`None`: no change, or seen).
async fn would_change(
    ctx: &Ctx<'_>,
    event: &StripeEvent,
    facts: &SessionFacts,
    payment_event: transition::PaymentEvent,
) -> Result<Option<OrderStatus>, sqlx::Error> {
    let seen: Option<i32> =
        sqlx::query_scalar(r#"SELECT 1 FROM h2s_stripe_events WHERE event_id = $1"#)
            .bind(&event.id)
            .fetch_optional(ctx.pool)
            .await?;
    if seen.is_some() {
        return Ok(None);
    }
    let status: Option<OrderStatus> = match facts
        .metadata
        .get("order_id")
        .and_then(|id| crate::orders::OrderId::parse(id))
    {
        Some(order_id) => {
            let mut tx = ctx.pool.begin().await?;
            let status = repo::status(&mut tx, &order_id).await?;
            tx.rollback().await?;
            status
        }
        None => None,
    };
    Ok(status.and_then(|s| transition::next(s, payment_event)))
}

fn count(ctx: &mut Ctx<'_>, event: &StripeEvent, now: Option<OrderStatus>) {
    match now {
        // A dispute won moves the order back to `paid`: a money move, not a missed payment.
        Some(_) if event.money.is_some() => ctx.report.money_moves += 1,
        Some(now) => ctx.report.count_move(now),
        None => {}
    }
}

/// Every event of [`TYPES`] created at or after `since`, newest first: one call per 100.
async fn list_since(
    ctx: &mut Ctx<'_>,
    since: i64,
) -> Result<Vec<serde_json::Value>, crate::stripe::StripeCallError> {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query: Vec<(&str, String)> = vec![
            ("limit", PAGE.to_string()),
            ("created[gte]", since.to_string()),
        ];
        query.extend(TYPES.iter().map(|t| ("types[]", (*t).to_owned())));
        if let Some(after) = &after {
            query.push(("starting_after", after.clone()));
        }
        ctx.report.stripe_calls += 1;
        let page = ctx.stripe().get_json("/events", &query).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
        events.extend(data);
        if page["has_more"].as_bool() != Some(true) || after.is_none() {
            return Ok(events);
        }
    }
}

/// The stored cursor, and the database's clock in unix seconds.
async fn load(ctx: &Ctx<'_>) -> Result<(Option<i64>, i64), sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT (SELECT position FROM h2s_sweep_cursors WHERE name = $1),
               EXTRACT(EPOCH FROM now())::bigint
        "#,
    )
    .bind(CURSOR)
    .fetch_one(ctx.pool)
    .await
}

/// Where a first listing starts: the oldest unpaid order with a session, else now.
async fn first_position(ctx: &Ctx<'_>) -> Result<i64, sqlx::Error> {
    let oldest: Option<DateTime<Utc>> = oldest_open_session()
        .query_as::<(Option<DateTime<Utc>>,)>()
        .fetch_one(ctx.pool)
        .await?
        .0;
    Ok(oldest.map_or_else(
        || Utc::now().timestamp() - OVERLAP_S,
        |t| t.timestamp() - OVERLAP_S,
    ))
}

async fn store(ctx: &Ctx<'_>, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"
        INSERT INTO h2s_sweep_cursors (name, position) VALUES ($1, $2)
        ON CONFLICT (name) DO UPDATE SET position = $2, updated_at = now()
        "#,
    )
    .bind(CURSOR)
    .bind(position)
    .execute(ctx.pool)
    .await?;
    Ok(())
}

/// (b) The oldest unpaid order with a session: where a first catch-up starts reading events
/// (index `h2s_orders_unpaid`).
pub(super) fn oldest_open_session() -> Stmt {
    Stmt::new(
        "oldest_open_session",
        r#"
        SELECT min(created_at)
        FROM h2s_orders
        WHERE status IN ('pending_payment', 'awaiting_payment')
          AND stripe_session_id IS NOT NULL
        "#,
    )
}
