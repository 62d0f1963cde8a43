//! (b') Refunds and disputes parked because no order had their PaymentIntent: once parked
//! longer than `stale_after` (the session's webhook should have come by then), the session
//! that names the PaymentIntent is found in Stripe's list (`payment_intent=`, one call each)
//! and applied as a retrieved session is: the PaymentIntent stored, the parked events applied
//! first. Orders paid before PaymentIntents were stored (by this system's first releases, or
//! the old backend) are healed this way.

use super::{context::Ctx, report::Repair, session_checks};
use crate::stripe::SessionFacts;

pub(super) async fn resolve(ctx: &mut Ctx<'_>) {
    if ctx.stopping() {
        return;
    }
    let stale: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(
        r#"
        SELECT payment_intent_id FROM h2s_parked_events
        GROUP BY payment_intent_id
        HAVING min(parked_at) <= now() - make_interval(secs => $1)
        ORDER BY min(parked_at)
        LIMIT $2
        "#,
    )
    .bind(ctx.options.stale_after.as_secs_f64())
    .bind(i64::from(ctx.options.batch_size))
    .fetch_all(ctx.pool)
    .await;
    let stale = match stale {
        Ok(stale) => stale,
        Err(e) => return ctx.report.fail(Repair::MissedPayment, None, e),
    };
    for payment_intent in stale {
        if ctx.stopping() {
            return;
        }
        ctx.report.stripe_calls += 1;
        let query = [
            ("payment_intent", payment_intent.clone()),
            ("limit", "1".into()),
        ];
        let facts = match ctx.stripe().get_json("/checkout/sessions", &query).await {
            Ok(page) => SessionFacts::from_json(&page["data"][0]),
            Err(e) => {
                let why =
                    format_args!("finding the session of PaymentIntent {payment_intent}: {e}");
                ctx.report.fail(Repair::MissedPayment, None, why);
                continue;
            }
        };
        let Some((event, facts)) = facts.and_then(|f| Some((f.observed_event()?, f))) else {
            tracing::info!(%payment_intent, "no completed Checkout Session names this PaymentIntent: its events stay parked");
            continue;
        };
        if ctx.options.dry_run {
            ctx.report.money_moves += 1;
            continue;
        }
        match session_checks::apply(ctx.pool, &facts, event).await {
            Ok(applied) => {
                tracing::info!(order_id = %applied.order_id, %payment_intent, "parked refunds and disputes applied");
                ctx.report.money_moves += 1;
            }
            Err(e) => ctx.report.fail(Repair::MissedPayment, None, e),
        }
    }
}
