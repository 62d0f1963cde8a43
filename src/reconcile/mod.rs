//! The reconciler (third layer): a scheduled sweep that repairs what the checkout API, the
//! outbox worker and the Stripe webhook missed, so that every paid order ends with exactly
//! one dispatch job even for rows written by older systems and for webhooks never sent.
//!
//! One library function, [`sweep`], is what the `reconcile` binary (`--once`, or on
//! `--schedule` through [`run_scheduled`]), `api --dev` and the admin route call.
//!
//! # A sweep, step by step
//! Each repair goes through the function the other layers use, one order per transaction
//! (a failure is counted, logged with the order id, and the sweep goes on). The report
//! gives `invariant_violations_before` and `_after`: the count of the one invariant query
//! ([`crate::invariant::VIOLATIONS_SQL`]) when the sweep starts and ends.
//! - **(b) missed webhooks, through Stripe's Events API** ([`events`]): the
//!   `checkout.session.*` events created since a cursor stored in Postgres are listed (100 per
//!   call) and applied through the webhook's own path, `webhook::handle` (dedupe by event id
//!   in `h2s_stripe_events`: an event both delivered and listed has its effect once). Stripe
//!   calls follow new events, not open carts. A session is retrieved one by one only when
//!   events cannot answer: a `pending_payment` order past its session's `expires_at` (by
//!   `expiry_grace`) with no terminal event seen, once per order; or every stale unpaid
//!   order, once, when the cursor fell out of Stripe's 30-day event window.
//! - **(a) the invariant**: every row of the invariant query — paid orders with no job, a job
//!   not linked both ways, a job not `ready` (legacy rows included) →
//!   [`crate::dispatch::ensure_job`], which creates, links or revives (never a second job).
//! - **(c) lost checkouts**: `pending_payment` orders of this system (with a
//!   `checkout_trace_id`) with no session, older than `requeue_after`, whose `Checkout`
//!   outbox task is dead or missing → [`crate::outbox::enqueue`] (same idempotency key: the
//!   outbox row is revived, and Stripe replays rather than creates a second session). There
//!   is no upper age here: the worker's checkout step itself refuses to create a session
//!   past `SESSION_CREATION_WINDOW` (23 h, in `checkout::fulfil`; Stripe forgets idempotency
//!   keys after 24 h) and fails the order with the reason, so a re-enqueued old checkout ends `failed`
//!   instead of staying pending behind a dead task. Legacy rows (no trace id) never had a
//!   checkout task here and are left alone.
//! - **(d) dead tasks** of every kind (`NotifyPaid`, `EnsureDispatchJob`, `Checkout`) are
//!   revived with fresh attempts once `revive_after × 2^revivals` passed since their last
//!   attempt, then those still dead are counted, with the oldest age
//!   ([`crate::outbox::runtime::dead_tasks`]).
//! - **(e) housekeeping**: `Done` outbox rows older than `retention` are deleted in batches
//!   (apalis never deletes them, and a growing queue table slows every claim).
//!
//! Every step reads through a partial index, in batches of `batch_size` with a keyset cursor,
//! so a sweep costs what it repairs, not the size of the tables (see [`queries`]).
//! In a dry run nothing is written (not even the event cursor): (b) still asks Stripe
//! (read-only) so that it can report what it would apply.
//!
//! # One sweep at a time
//! A Postgres session advisory lock (`pg_try_advisory_lock`, key [`lock::SWEEP_LOCK_KEY`]) on
//! a dedicated connection, held for the sweep; a sweep that finds it taken returns at once a
//! report with `skipped: true` (exit code 0). See [`lock`] for why not the pool or a
//! transaction lock.
//!
//! **Clock skew.** Replicas on the same schedule but skewed clocks fire the "same" tick at
//! different moments: whoever comes first sweeps; the other either finds the lock held
//! (skipped) or, if the first already finished, sweeps again right after and finds (almost)
//! nothing to do. Two sweeps never run at once, whatever the clocks say; a tick may be swept
//! twice in a row, which is harmless because every repair is idempotent. Ages (`stale_after`,
//! `retention`, ...) are measured with the database's `now()`, so the reconciler's own clock
//! never decides what is stale. (A per-tick claim row would instead key on the tick as each
//! replica computes it: skew beyond the sweep interval would let two replicas claim
//! different ticks and overlap.)
//!
//! # Schedule
//! apalis-cron's [`apalis_cron::CronScheduler`] (over `cron` 0.17) produces the ticks, in UTC.
//! Its stream must be polled continuously (a tick computed but polled after it passed yields
//! an `OutOfRange` error, forever), so a small task forwards ticks into a one-slot channel:
//! a tick that comes while a sweep is running waits in the slot, further ones are dropped
//! (logged). On shutdown (SIGTERM/ctrl-c) the running sweep stops between two repairs —
//! each repair is its own transaction, so nothing is left half-done — and the process
//! exits 0.
//!
//! # Defaults
//! | option | flag / env | default |
//! |---|---|---|
//! | schedule | `--schedule` / `RECONCILE_SCHEDULE` | `0 */5 * * * *` (every 5 min, UTC) |
//! | stale after | `--stale-after` / `RECONCILE_STALE_AFTER` | `15m` |
//! | requeue after | `--requeue-after` / `RECONCILE_REQUEUE_AFTER` | `5m` |
//! | retention | `--retention` / `RECONCILE_RETENTION` | `7d` |
//! | batch size | `--batch-size` / `RECONCILE_BATCH_SIZE` | 100 rows (deletes: 1000) |
//!
//! Exit codes of `reconcile --once`: 0 all repairs done (or skipped), 3 some repair failed
//! (the report names them), 1 the sweep could not run (settings, database), 2 bad flags.

mod events;
pub mod history;
pub mod lock;
mod orphans;
mod payments;
pub mod process;
pub mod queries;
mod report;
mod requeue;
mod schedule;
pub mod settings;
mod tidy;

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use sqlx::PgPool;

pub use self::{
    report::{Failure, Repair, SweepReport},
    schedule::run_scheduled,
    settings::ReconcileSettings,
};
use crate::stripe::StripeHttp;

/// What a sweep does and how far it looks. [`Default`] holds the documented defaults.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Report only; change nothing.
    pub dry_run: bool,
    /// (b) Unpaid orders older than this are checked against Stripe.
    pub stale_after: Duration,
    /// (c) Minimum age of a session-less checkout before it is re-enqueued.
    pub requeue_after: Duration,
    /// (b) How long past its `expires_at` a session with no terminal event is retrieved
    /// (Stripe sends `checkout.session.expired` shortly after; this leaves it time to).
    pub expiry_grace: Duration,
    /// (d) A dead task is revived this long after its last attempt, doubling per revival.
    pub revive_after: Duration,
    /// (e) Finished outbox rows older than this are deleted.
    pub retention: Duration,
    /// Rows per query.
    pub batch_size: u32,
    /// Rows per housekeeping `DELETE`.
    pub delete_batch_size: u32,
    /// Stripe retrievals in flight at once in (b).
    pub stripe_concurrency: usize,
}

impl Default for SweepOptions {
    fn default() -> Self {
        let d = |s: &str| settings::parse_duration(s).expect("the default durations parse");
        SweepOptions {
            dry_run: false,
            stale_after: d(settings::DEFAULT_STALE_AFTER),
            requeue_after: d(settings::DEFAULT_REQUEUE_AFTER),
            expiry_grace: d(settings::DEFAULT_EXPIRY_GRACE),
            revive_after: d(settings::DEFAULT_REVIVE_AFTER),
            retention: d(settings::DEFAULT_RETENTION),
            batch_size: settings::DEFAULT_BATCH_SIZE,
            delete_batch_size: 1_000,
            stripe_concurrency: 4,
        }
    }
}

/// A sweep that could not run at all (repairs that fail are counted in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot take the sweep lock: {0}")]
    Lock(#[source] sqlx::Error),
}

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
    let Some(lock) = lock::SweepLock::try_acquire(pool)
        .await
        .map_err(SweepError::Lock)?
    else {
        tracing::info!("another sweep holds the lock: skipped");
        crate::metrics::reconcile_sweep("skipped", started.elapsed());
        return Ok(SweepReport {
            skipped: true,
            dry_run: options.dry_run,
            duration_ms: elapsed_ms(started),
            ..SweepReport::default()
        });
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
    ctx.report.invariant_violations_before = violations(pool, &mut ctx.report).await;
    if ctx.stripe.is_some() {
        events::catch_up(&mut ctx).await;
        payments::retrieve_past_expiry(&mut ctx).await;
    } else {
        ctx.report.skipped_steps.push(MISSED_WEBHOOKS_STEP);
    }
    orphans::repair(&mut ctx).await;
    requeue::repair(&mut ctx).await;
    tidy::revive_dead(&mut ctx).await;
    tidy::count_dead(&mut ctx).await;
    tidy::delete_finished(&mut ctx).await;
    ctx.report.invariant_violations_after = violations(pool, &mut ctx.report).await;
    lock.release().await;

    let mut report = ctx.report;
    report.duration_ms = elapsed_ms(started);
    record_metrics(&report);
    crate::metrics::reconcile_sweep(report.outcome(), started.elapsed());
    if !report.dry_run
        && let Err(e) = history::record(pool, &report).await
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
    Ok(report)
}

/// The step a sweep without a Stripe client skips, as `skipped_steps` names it.
pub const MISSED_WEBHOOKS_STEP: &str = "missed_webhooks";

/// What the repair steps share.
struct Ctx<'a> {
    pool: &'a PgPool,
    /// `None` for a sweep without a Stripe key: the steps that ask Stripe are not run.
    stripe: Option<&'a StripeHttp>,
    options: &'a SweepOptions,
    stop: &'a AtomicBool,
    report: SweepReport,
}

impl Ctx<'_> {
    /// Whether to stop before the next repair (marks the report interrupted).
    fn stopping(&mut self) -> bool {
        let stop = self.stop.load(Ordering::Relaxed);
        self.report.interrupted |= stop;
        stop
    }

    /// The Stripe client of the steps that ask Stripe, which [`sweep_with`] runs only when
    /// it has one.
    fn stripe(&self) -> &StripeHttp {
        self.stripe
            .expect("the Stripe steps run only in a sweep with a Stripe client")
    }
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
