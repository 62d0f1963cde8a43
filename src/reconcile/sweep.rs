//! One sweep: the lock, the repair steps in order, then the report's metrics, history and
//! log line.

use std::{
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use sqlx::PgPool;

use super::{
    context::Ctx,
    event_catchup, history, holds, lock, orphans, parked,
    report::{Repair, SweepReport},
    requeue, session_checks,
    settings::SweepOptions,
    tidy,
};
use crate::stripe::StripeHttp;

/// A sweep that could not run at all (repairs that fail are counted in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot take the sweep lock: {0}")]
    Lock(#[source] sqlx::Error),
    #[error("the database takes no writes (a standby, or read-only): no sweep")]
    ReadOnly,
}

/// The step a sweep without a Stripe client skips, as `skipped_steps` names it.
pub const MISSED_WEBHOOKS_STEP: &str = "missed_webhooks";

/// Runs one sweep to its end (or returns a `skipped` report if another one holds the lock).
pub async fn sweep(
    pool: &PgPool,
    stripe: &StripeHttp,
    options: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    sweep_until(pool, stripe, options, &AtomicBool::new(false)).await
}

/// [`sweep`], ending early (between two repairs, `interrupted: true`) once `stop` is set.
pub async fn sweep_until(
    pool: &PgPool,
    stripe: &StripeHttp,
    options: &SweepOptions,
    stop: &AtomicBool,
) -> Result<SweepReport, SweepError> {
    sweep_with(pool, Some(stripe), options, stop).await
}

/// A sweep by a process with no Stripe key (an api deployed as SPEC's table says, asked
/// from the console): every step but (b), the missed webhooks, which needs Stripe; the
/// report names it in `skipped_steps`.
pub async fn sweep_without_stripe(
    pool: &PgPool,
    options: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    sweep_with(pool, None, options, &AtomicBool::new(false)).await
}

#[tracing::instrument(name = "reconcile_sweep", skip_all, fields(dry_run = options.dry_run))]
async fn sweep_with(
    pool: &PgPool,
    stripe: Option<&StripeHttp>,
    options: &SweepOptions,
    stop: &AtomicBool,
) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    let lock = match lock::SweepLock::try_acquire(pool)
        .await
        .map_err(SweepError::Lock)?
    {
        lock::Attempt::Held(lock) => lock,
        lock::Attempt::ReadOnly => return Err(SweepError::ReadOnly),
        lock::Attempt::Taken => {
            tracing::info!("another sweep holds the lock: skipped");
            crate::metrics::reconcile_sweep("skipped", started.elapsed());
            return Ok(SweepReport {
                skipped: true,
                dry_run: options.dry_run,
                duration_ms: elapsed_ms(started),
                ..SweepReport::default()
            });
        }
    };
    let mut ctx = Ctx {
        pool,
        stripe,
        options,
        stop,
        report: SweepReport {
            dry_run: options.dry_run,
            ..SweepReport::default()
        },
    };
    run_steps(&mut ctx).await;
    lock.release().await;

    let mut report = ctx.report;
    report.duration_ms = elapsed_ms(started);
    finish(pool, &report, started.elapsed()).await;
    Ok(report)
}

/// The repairs, in order, between the two counts of the invariant query.
async fn run_steps(ctx: &mut Ctx<'_>) {
    ctx.report.invariant_violations_before = violations(ctx.pool, &mut ctx.report).await;
    if ctx.stripe.is_some() {
        event_catchup::catch_up(ctx).await;
        session_checks::retrieve_past_expiry(ctx).await;
        parked::resolve(ctx).await;
    } else {
        ctx.report.skipped_steps.push(MISSED_WEBHOOKS_STEP);
    }
    orphans::repair(ctx).await;
    holds::watch(ctx).await;
    requeue::repair(ctx).await;
    tidy::revive_dead_tasks(ctx).await;
    tidy::count_dead(ctx).await;
    tidy::delete_finished_tasks(ctx).await;
    ctx.report.invariant_violations_after = violations(ctx.pool, &mut ctx.report).await;
}

/// Metrics, the stored report (not for a dry run) and the log line of a finished sweep.
async fn finish(pool: &PgPool, report: &SweepReport, elapsed: Duration) {
    record_metrics(report);
    crate::metrics::reconcile_sweep(report.outcome(), elapsed);
    if !report.dry_run
        && let Err(e) = history::record(pool, report).await
    {
        // The repairs are done and committed; only the console and the alert on the last
        // successful sweep miss this one.
        tracing::warn!(error = %e, "the sweep report could not be stored");
    }
    tracing::info!(
        invariant_violations_before = report.invariant_violations_before,
        invariant_violations_after = report.invariant_violations_after,
        stripe_calls = report.stripe_calls,
        events_listed = report.events_listed,
        orphans_repaired = report.orphans_repaired,
        missed_payments = report.missed_payments,
        expired = report.expired,
        awaiting_payment = report.awaiting_payment,
        requeued = report.requeued,
        revived_tasks = report.revived_tasks,
        dead_tasks = report.dead_tasks,
        deleted = report.deleted,
        failed = report.failed,
        duration_ms = report.duration_ms,
        interrupted = report.interrupted,
        "sweep finished"
    );
}

/// The invariant query's count (a failure to count is a failed step, counted as 0).
async fn violations(pool: &PgPool, report: &mut SweepReport) -> u64 {
    match crate::invariant::count(pool).await {
        Ok(n) => u64::try_from(n).unwrap_or(0),
        Err(e) => {
            report.fail(
                Repair::Orphan,
                None,
                format_args!("counting violations: {e}"),
            );
            0
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn record_metrics(report: &SweepReport) {
    if report.dry_run {
        return;
    }
    for (kind, n) in [
        ("invariant", report.orphans_repaired),
        ("missed_payment", report.missed_payments),
        ("expired", report.expired),
        ("awaiting_payment", report.awaiting_payment),
        ("payment_failed", report.payment_failed),
        ("requeue", report.requeued),
        ("revived_task", report.revived_tasks),
        ("deleted", report.deleted),
    ] {
        crate::metrics::reconcile_repairs(kind, n);
    }
}
