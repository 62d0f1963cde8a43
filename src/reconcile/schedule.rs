//! Sweeps on a cron schedule, one after the other, until shutdown.
//!
//! apalis-cron's [`apalis_cron::CronScheduler`] (over `cron` 0.17) produces the ticks, in UTC.
//! Its stream must be polled continuously (a tick computed but polled after it passed yields
//! an `OutOfRange` error, forever), so a small task forwards ticks into a one-slot channel:
//! a tick that comes while a sweep is running waits in the slot, further ones are dropped
//! (logged). On shutdown (SIGTERM/ctrl-c) the running sweep stops between two repairs (each
//! repair is its own transaction, so nothing is left half-done) and the process exits 0.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use apalis_cron::CronScheduler;
use cron::Schedule;
use futures::{FutureExt, StreamExt};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::{report::SweepReport, settings::SweepOptions, sweep::sweep_until};
use crate::stripe::StripeHttp;

/// Runs a sweep at every tick of `schedule` (UTC) until `shutdown` resolves; then lets the
/// running sweep stop between two repairs and returns `Ok`. Each report goes to `on_report`
/// (and to the log). A sweep that cannot run at all is logged; the next tick tries again.
pub async fn run_scheduled(
    pool: PgPool,
    stripe: StripeHttp,
    options: SweepOptions,
    schedule: Schedule,
    shutdown: impl Future<Output = ()> + Send,
    mut on_report: impl FnMut(&SweepReport) + Send,
) -> anyhow::Result<()> {
    tracing::info!(schedule = %schedule, dry_run = options.dry_run, "reconciler scheduled");
    let (tick_tx, mut ticks) = mpsc::channel::<u64>(1);
    let ticker = tokio::spawn(forward_ticks(schedule, tick_tx));
    let stop = Arc::new(AtomicBool::new(false));
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    loop {
        let tick = tokio::select! {
            () = &mut shutdown => break,
            tick = ticks.recv() => match tick {
                Some(tick) => tick,
                None => {
                    tracing::warn!("the schedule has no further ticks: reconciler stops");
                    break;
                }
            },
        };
        tracing::debug!(tick, "reconcile tick");
        let mut sweep = std::pin::pin!(sweep_until(&pool, &stripe, &options, &stop));
        let result = tokio::select! {
            result = &mut sweep => result,
            () = &mut shutdown => {
                tracing::info!("shutdown requested: the sweep stops after its current repair");
                stop.store(true, Ordering::Relaxed);
                sweep.await
            }
        };
        match result {
            Ok(report) => on_report(&report),
            Err(e) => tracing::error!(error = %e, "sweep could not run; next tick will retry"),
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    ticker.abort();
    tracing::info!("reconciler stopped");
    Ok(())
}

/// Polls apalis-cron's tick stream continuously (it must be: a tick polled after it passed
/// is an `OutOfRange` error it repeats forever) and hands ticks to the sweep loop through a
/// one-slot channel: a tick that comes during a sweep waits there; more are dropped.
async fn forward_ticks(schedule: Schedule, ticks: mpsc::Sender<u64>) {
    loop {
        let mut stream = std::pin::pin!(CronScheduler::new(schedule.clone()).into_stream());
        loop {
            match stream.next().await {
                Some(Ok(tick)) => match ticks.try_send(tick.get_timestamp()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(t)) => {
                        tracing::info!(tick = t, "a sweep is still running: tick dropped")
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                },
                Some(Err(e)) => {
                    // Missed (the process was starved, or the clock jumped): start afresh.
                    tracing::warn!(error = %e, "cron tick missed; rescheduling");
                    break;
                }
                None => return,
            }
        }
    }
}
