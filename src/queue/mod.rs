//! The queue runner, generic over its jobs: apalis 1.0 over `apalis.jobs`, one queue (the
//! app's outbox, `outbox::QUEUE`, whose jobs are `worker::jobs`). Nothing here knows the
//! app: a job is whatever implements [`Job`], and what an attempt did is told to an
//! [`Observer`] the app plugs in (its metrics). How a task is picked up, retried, handed back after a crash and stopped at shutdown is told in
//! the README ("Architecture": retries, crash recovery; "Operations": processes). Here:
//! [`run`] keeps one apalis worker running under a unique name, restarting it under a derived
//! name (`<name>-r<n>`, backoff 1 s doubling to 30 s) when apalis stops on a database error;
//! `fetch` claims rows (apalis's storage with a fetch that loses no wake-up and claims as many
//! rows as there are free slots), `listen` wakes it on the insert trigger's notifications;
//! `service` runs one attempt and `complete` writes its end to the row (or lets the job
//! complete itself in its own transaction, River's `JobCompleteTx`); `retry` decides whether and
//! when a failed attempt runs again; `handler` is what the app implements; `error` how an
//! attempt fails. Dead rows are `outbox::dead`'s.

mod complete;
pub mod defaults;
mod error;
mod fetch;
mod handler;
pub mod listen;
mod retry;
mod service;
mod slots;
mod wake;

use std::{future::Future, pin::Pin, time::Duration};

use anyhow::{Context, bail};
use apalis::prelude::{WorkerBuilder, WorkerBuilderExt, WorkerContext};
use apalis_postgres::Config;
use sqlx::PgPool;

use self::service::JobService;
pub use self::{
    complete::Attempt,
    error::{Cause, TaskError, UNSET_MAX_ATTEMPTS, attempt_limit},
    handler::{Job, Observer, TaskHandler, Unobserved},
    retry::RetryPolicy,
    wake::{Commits, Tx, Waker, notify_unless_quiet},
};

/// How long a shutdown waits for attempts in flight before releasing them (their work is
/// idempotent, so the next worker redoes it). apalis counts an attempt for each row it hands
/// back, started or not.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The queue (`apalis.jobs.job_type`) this worker drains.
    pub queue: &'static str,
    /// Unique per process, never a dead worker's name: see [`RuntimeConfig::unique_name`].
    pub worker_name: String,
    /// Max attempts in flight in this process.
    pub concurrency: usize,
    /// Max rows claimed per fetch.
    pub batch_size: usize,
    /// Liveness period of this worker, and how often it looks for dead workers' rows.
    pub heartbeat: Duration,
    /// Heartbeats a worker may miss before its claimed rows are handed to others: a killed
    /// worker's tasks run again `heartbeat × missed_heartbeats` (+ up to one heartbeat)
    /// after its death. At least 2, and apalis compares whole seconds, so `heartbeat ×
    /// missed_heartbeats` must be at least 1 s. A hand-back costs the task one attempt.
    pub missed_heartbeats: usize,
    /// Fallback poll besides LISTEN/NOTIFY, and the only wake-up for what no insert announces:
    /// a retry whose `run_at` has come, a dead task revived by `enqueue`'s `ON CONFLICT ... DO
    /// UPDATE` (an update fires no insert trigger), rows inserted while the listening
    /// connection is down (its reconnection fetches once too).
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    /// The longest one attempt may run before it ends as an outage (a stalled database).
    pub task_timeout: Duration,
    /// Told of every attempt and death; [`Unobserved`] by default.
    pub observer: std::sync::Arc<dyn Observer>,
}

impl RuntimeConfig {
    /// The worker's defaults ([`defaults`], as the flags have them), heartbeat 5 s × 3.
    pub fn new(queue: &'static str, worker_name: impl Into<String>) -> Self {
        use self::defaults::{
            DEFAULT_MAX_RETRIES, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RETRY_BASE_MS,
            DEFAULT_RETRY_CAP_MS, DEFAULT_TASK_TIMEOUT_MS, DEFAULT_WORKER_CONCURRENCY,
        };
        Self {
            queue,
            worker_name: worker_name.into(),
            concurrency: DEFAULT_WORKER_CONCURRENCY,
            batch_size: DEFAULT_WORKER_CONCURRENCY,
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            poll_interval: Duration::from_millis(DEFAULT_POLL_INTERVAL_MS),
            retry: RetryPolicy {
                max_retries: DEFAULT_MAX_RETRIES,
                base: Duration::from_millis(DEFAULT_RETRY_BASE_MS),
                cap: Duration::from_millis(DEFAULT_RETRY_CAP_MS),
            },
            task_timeout: Duration::from_millis(DEFAULT_TASK_TIMEOUT_MS),
            observer: std::sync::Arc::new(Unobserved),
        }
    }

    /// `<prefix>-<hostname>-<pid>-<random>`: unique across hosts, processes and restarts. A
    /// process restarted under its predecessor's name would re-register that name, making the
    /// dead worker look alive: its claimed rows would never be handed back.
    pub fn unique_name(prefix: &str) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let host = if host.is_empty() { "host" } else { &host };
        format!(
            "{prefix}-{host}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.worker_name.trim().is_empty() {
            bail!("the outbox worker needs a name");
        }
        if self.concurrency == 0 || self.batch_size == 0 {
            bail!("outbox concurrency and batch size must be at least 1");
        }
        if self.missed_heartbeats < 2 || self.orphan_timeout() < Duration::from_secs(1) {
            bail!(
                "outbox heartbeat × missed heartbeats must be at least 1 s with at least 2 \
                 missed heartbeats (a shorter timeout hands live workers' tasks to others)"
            );
        }
        Ok(())
    }

    fn orphan_timeout(&self) -> Duration {
        self.heartbeat
            .saturating_mul(u32::try_from(self.missed_heartbeats).unwrap_or(u32::MAX))
    }
}

/// Runs until `shutdown` resolves; then stops taking new tasks, lets in-flight ones finish
/// (or releases them back to `Pending` after [`SHUTDOWN_GRACE`]), and returns `Ok`.
pub async fn run<H: TaskHandler>(
    pool: PgPool,
    config: RuntimeConfig,
    handler: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut restarts = 0u32;
    loop {
        let name = match restarts {
            0 => config.worker_name.clone(),
            n => format!("{}-r{n}", config.worker_name),
        };
        let result = run_worker(&pool, &config, &name, handler.clone(), shutdown.as_mut()).await;
        if let Err(e) = release_claims(&pool, &name).await {
            tracing::warn!(
                worker = %name,
                error = %e,
                "could not release the worker's tasks: other workers will re-claim them",
            );
        }
        match result {
            Ok(()) => return Ok(()),
            Err(e) => {
                restarts += 1;
                let pause =
                    Duration::from_secs(1 << (restarts - 1).min(5)).min(Duration::from_secs(30));
                tracing::error!(
                    worker = %name,
                    error = format!("{e:#}"),
                    restart_in_s = pause.as_secs(),
                    "the outbox worker failed: restarting it under a new name",
                );
                tokio::select! {
                    () = shutdown.as_mut() => return Ok(()),
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// One apalis worker under one name, until shutdown (`Ok`) or its failure (`Err`).
async fn run_worker<H: TaskHandler>(
    pool: &PgPool,
    config: &RuntimeConfig,
    name: &str,
    handler: H,
    mut shutdown: Pin<&mut (impl Future<Output = ()> + Send)>,
) -> anyhow::Result<()> {
    let in_flight = slots::InFlight::default();
    let (backend, _listening) = backend(pool, config, in_flight.clone());
    let ctx = WorkerContext::new(name);
    let worker = WorkerBuilder::new(&ctx)
        .backend(backend)
        .concurrency(config.concurrency)
        .build(JobService::new(
            handler,
            pool.clone(),
            config.retry.clone(),
            config.task_timeout,
            name,
            in_flight,
            config.observer.clone(),
        ));
    let mut running = Box::pin(worker.run());
    tracing::info!(worker = %name, concurrency = config.concurrency, "outbox worker starting");
    tokio::select! {
        result = running.as_mut() => {
            result.context("the outbox worker stopped")?;
            bail!("the outbox worker stopped by itself")
        }
        () = shutdown.as_mut() => {}
    }
    tracing::info!(worker = %name, "shutting down: no new tasks; waiting for in-flight ones");
    if ctx.stop().is_err() {
        return Ok(()); // not started: nothing in flight
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, running.as_mut()).await {
        Ok(Ok(())) => tracing::info!(worker = %name, "outbox worker stopped"),
        Ok(Err(e)) => {
            tracing::warn!(worker = %name, error = %e, "outbox worker stopped with an error")
        }
        Err(_) => {
            tracing::warn!(
                worker = %name,
                grace_s = SHUTDOWN_GRACE.as_secs(),
                "in-flight outbox tasks outlived the grace period: releasing them",
            )
        }
    }
    Ok(())
}

/// The fetcher over apalis's storage, and the listener that wakes it (which lives as long as
/// the returned guard).
fn backend(
    pool: &PgPool,
    config: &RuntimeConfig,
    in_flight: slots::InFlight,
) -> (fetch::Fetcher, AbortOnDrop) {
    let storage_config = Config::default()
        .queue(config.queue)
        .batch_size(config.batch_size)
        .heartbeat_interval(config.heartbeat)
        .missed_heartbeats(config.missed_heartbeats)
        // The service writes each attempt's end itself, in one statement or in the job's own
        // transaction (`complete`); the claim already marks the row taken.
        .persist_results(false)
        .lock_tasks(false);
    let (wake, woken) = tokio::sync::mpsc::channel(1);
    let listening = tokio::spawn(listen::listen(pool.clone(), config.queue.to_owned(), wake));
    let fetcher = fetch::Fetcher::new(
        pool,
        storage_config,
        config.concurrency,
        in_flight,
        woken,
        config.poll_interval,
    );
    (fetcher, AbortOnDrop(listening))
}

/// The listener task lives as long as its worker.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Hands back to `Pending` every row `worker` still claims. Only for a worker whose apalis
/// loop has ended (or been dropped), so that nothing of it is still running.
async fn release_claims(pool: &PgPool, worker: &str) -> Result<u64, sqlx::Error> {
    let released = sqlx::query(
        r#"
        UPDATE apalis.jobs
        SET status = 'Pending', lock_by = NULL, lock_at = NULL
        WHERE lock_by = $1 AND status IN ('Queued', 'Running')
        "#,
    )
    .bind(worker)
    .execute(pool)
    .await?
    .rows_affected();
    if released > 0 {
        tracing::info!(worker, released, "released claimed outbox tasks");
    }
    Ok(released)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
