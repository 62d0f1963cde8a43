//! (f) The watch on holds (manual capture, issue 34): every `authorized` order whose hold
//! ends within `CAPTURE_WARNING_HOURS` and whose capture was not asked is told once (an
//! operator alert, the feed's `order.authorization_expiring`, a metric); every one whose hold
//! has ended is looked up at Stripe, so that a lapse whose event was missed (the
//! PaymentIntent `canceled`) still makes the order `authorization_expired`.

use chrono::Utc;

use super::{context::Ctx, report::Repair};
use crate::{
    alerts::{self, AlertKind},
    events::{self, Event},
    orders::{OrderId, OrderStatus, hold},
    payments::money,
    stripe::payment_intents,
};

pub(super) async fn watch(ctx: &mut Ctx<'_>) {
    warn_nearing_end(ctx).await;
    if ctx.stripe.is_some() {
        look_up_ended(ctx).await;
    }
}

async fn warn_nearing_end(ctx: &mut Ctx<'_>) {
    let warning = chrono::TimeDelta::from_std(ctx.options.capture_warning)
        .unwrap_or(chrono::TimeDelta::hours(24));
    let limit = i64::from(ctx.options.batch_size);
    let rows = match hold::nearing_end(ctx.pool, Utc::now() + warning, limit).await {
        Ok(rows) => rows,
        Err(e) => {
            ctx.report
                .fail(Repair::Holds, None, format_args!("holds: {e}"));
            return;
        }
    };
    for (order_id, capture_before) in rows {
        if ctx.stopping() {
            return;
        }
        if ctx.options.dry_run {
            ctx.report.authorizations_expiring += 1;
            continue;
        }
        match warn(ctx.pool, &order_id, capture_before).await {
            Ok(true) => {
                ctx.report.authorizations_expiring += 1;
                crate::metrics::reconcile_repairs("authorization_expiring", 1);
            }
            Ok(false) => {}
            Err(e) => ctx.report.fail(Repair::Holds, Some(&order_id), e),
        }
    }
}

/// Tells the hold's coming end once (the order locked, still held, its capture not asked).
async fn warn(
    pool: &sqlx::PgPool,
    order_id: &OrderId,
    capture_before: chrono::DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(order) = hold::lock(&mut tx, order_id).await? else {
        return Ok(false);
    };
    if order.status.known() != Some(OrderStatus::Authorized)
        || order.capture_requested_at.is_some()
        || !hold::mark_warned(&mut tx, order_id).await?
    {
        return Ok(false);
    }
    let detail =
        format!("the hold lapses at {capture_before}: complete the job (capturing it) before then");
    alerts::raise(&mut tx, order_id, AlertKind::AuthorizationExpiring, &detail).await?;
    events::record(&mut tx, order_id, Event::OrderAuthorizationExpiring).await?;
    tx.commit().await?;
    tracing::info!(%order_id, %capture_before, "a hold nears its end: operator alerted");
    Ok(true)
}

async fn look_up_ended(ctx: &mut Ctx<'_>) {
    let limit = i64::from(ctx.options.batch_size);
    let rows = match hold::past_end(ctx.pool, Utc::now(), limit).await {
        Ok(rows) => rows,
        Err(e) => {
            ctx.report
                .fail(Repair::Holds, None, format_args!("holds: {e}"));
            return;
        }
    };
    for (order_id, payment_intent) in rows {
        if ctx.stopping() {
            return;
        }
        ctx.report.stripe_calls += 1;
        let facts = match payment_intents::retrieve(ctx.stripe(), &payment_intent).await {
            Ok(Some(facts)) => facts,
            Ok(None) => continue,
            Err(e) => {
                ctx.report.fail(Repair::Holds, Some(&order_id), e);
                continue;
            }
        };
        if ctx.options.dry_run {
            continue;
        }
        let applied = async {
            let mut tx = ctx.pool.begin().await?;
            let applied = money::apply_refund_answer(&mut tx, &facts).await?;
            tx.commit().await?;
            Ok::<_, crate::payments::ApplyError>(applied)
        }
        .await;
        match applied {
            Ok(Some(Some((_, OrderStatus::AuthorizationExpired)))) => {
                ctx.report.authorizations_lapsed += 1;
                crate::metrics::reconcile_repairs("authorization_expired", 1);
            }
            Ok(_) => {}
            Err(e) => ctx.report.fail(Repair::Holds, Some(&order_id), e),
        }
    }
}
