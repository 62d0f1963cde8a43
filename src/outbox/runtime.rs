//! The worker that drains the outbox: apalis 1.0 over `apalis.jobs`, queue [`QUEUE`].
//!
//! # How a task runs
//! - **Pickup.** apalis's insert trigger NOTIFYs `apalis::job::insert`; each worker LISTENs
//!   (`with_pubsub`) and fetches within milliseconds. A poll every `poll_interval` is the
//!   fallback, and the only wake-up for what no insert announces: a retry whose `run_at`
//!   has come, a dead task revived by `enqueue`'s `ON CONFLICT ... DO UPDATE` (an update fires
//!   no insert trigger), a notification lost while the listener reconnected.
//! - **Claim.** `apalis.get_jobs` claims up to `batch_size` rows with `FOR UPDATE SKIP
//!   LOCKED` (status `Queued`, `lock_by` = this worker); at most `concurrency` run at once.
//! - **Outcome.** `Ok` → `Done`. [`TaskError::Permanent`] → `Killed`, never fetched again.
//!   [`TaskError::Retryable`] → `Failed` with `attempts` + 1 and `run_at` moved to
//!   `now() + RetryPolicy::delay` (written to the row, so the schedule survives a crash),
//!   then fetched by the poll once due: the retry starts `delay` to `delay + poll_interval`
//!   after the failure. When `attempts` reaches the row's `max_attempts` (or the policy's
//!   `1 + max_retries`, if lower) the row stays `Failed` for good. Dead rows, `Killed` or
//!   exhausted, are what [`dead_tasks`] counts; `outbox::enqueue` revives them. A handler
//!   panic counts as a retryable failure.
//!
//! # Crashes and recovery
//! Every worker heartbeats `apalis.workers.last_seen` every `heartbeat`. At each of its
//! heartbeats (and when it starts) a worker hands back to `Pending` the claimed rows
//! (`Queued`/`Running`) of any worker of this queue not seen for `heartbeat ×
//! missed_heartbeats`, and fetches them right away. So a killed worker's tasks run again
//! between `heartbeat × missed_heartbeats` and `heartbeat × (missed_heartbeats + 1)` after
//! its last heartbeat, provided some worker is running: with the defaults (5 s × 3) within
//! 15–20 s. The hand-back costs the task one attempt. apalis compares whole seconds, so
//! `heartbeat × missed_heartbeats` must be at least 1 s (checked at start).
//!
//! **Worker names must be unique and never reused** ([`RuntimeConfig::unique_name`]:
//! prefix-hostname-pid-random). A process restarted under its predecessor's name
//! re-registers that name, which makes the dead worker look alive: its claimed rows are
//! then never handed back.
//!
//! If the worker fails (apalis stops on any database error: a lost heartbeat, a failed
//! fetch), [`run`] releases what that worker claimed and starts a new one under a derived
//! name (`<name>-r<n>`), with a backoff of 1 s doubling to 30 s.
//!
//! # Shutdown
//! When `shutdown` resolves the worker fetches nothing more, hands back claimed rows not yet
//! started, and waits for in-flight attempts up to [`SHUTDOWN_GRACE`]; attempts still
//! running then are dropped and their rows released to `Pending` at once (their work is
//! idempotent, so the next worker redoes it). apalis counts an attempt for each row it hands
//! back, started or not.
//!
//! # Knobs
//! [`RuntimeConfig::new`] takes the worker's defaults from `crate::config` (the flags and
//! their defaults are in the README's configuration table). Not flags:
//! | knob | default | effect |
//! |---|---|---|
//! | `batch_size` | the concurrency | rows claimed per fetch; claimed rows wait in memory for a slot |
//! | `heartbeat` | 5 s | liveness period; orphan check period |
//! | `missed_heartbeats` | 3 | a worker silent for 3 × 5 s = 15 s is dead |

mod retry;
mod service;

use std::{future::Future, pin::Pin, time::Duration};

use anyhow::{Context, bail};
use apalis::prelude::{BackendExt, WorkerBuilder, WorkerBuilderExt, WorkerContext};
use apalis_postgres::{Config, PostgresStorage};
use sqlx::PgPool;

pub use self::retry::RetryPolicy;
use self::service::{OutboxService, Payload};
use super::{OutboxTask, QUEUE, TaskError};

/// How long a shutdown waits for attempts in flight before releasing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Does the work of one outbox task. Implementations must be idempotent: an attempt may run
/// again after a crash, a release at shutdown, or a worker declared dead.
pub trait TaskHandler: Clone + Send + Sync + 'static {
    fn handle(&self, task: OutboxTask) -> impl Future<Output = Result<(), TaskError>> + Send;
}

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
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
    /// after its death. At least 2.
    pub missed_heartbeats: usize,
    /// Fallback poll besides LISTEN/NOTIFY; also wakes retries whose time has come.
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
}

impl RuntimeConfig {
    /// The worker's defaults (`crate::config`'s, as the flags have them), heartbeat 5 s × 3.
    pub fn new(worker_name: impl Into<String>) -> Self {
        use crate::config::{
            DEFAULT_MAX_RETRIES, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RETRY_BASE_MS,
            DEFAULT_RETRY_CAP_MS, DEFAULT_WORKER_CONCURRENCY,
        };
        Self {
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
        }
    }

    /// `<prefix>-<hostname>-<pid>-<random>`: unique across hosts, processes and restarts.
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

/// Dead tasks of the outbox queue: retries exhausted, or killed by a permanent error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadTasks {
    pub count: i64,
    /// Since the oldest one's last attempt.
    pub oldest_age: Option<Duration>,
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
    let storage_config = Config::default()
        .queue(QUEUE)
        .batch_size(config.batch_size)
        .heartbeat_interval(config.heartbeat)
        .missed_heartbeats(config.missed_heartbeats);
    let backend = PostgresStorage::<Payload>::new(pool)
        .with_config(storage_config)
        .with_pubsub()
        .poll_with_interval(config.poll_interval);
    let ctx = WorkerContext::new(name);
    let worker = WorkerBuilder::new(&ctx)
        .backend(backend)
        .concurrency(config.concurrency)
        .build(OutboxService::new(
            handler,
            pool.clone(),
            config.retry.clone(),
            name,
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

/// The dead-task count and oldest age of queue `$1` (the reconciler EXPLAINs this same text).
pub const DEAD_TASKS_SQL: &str = r#"
    SELECT count(*),
           EXTRACT(EPOCH FROM now() - min(COALESCE(done_at, run_at)))::float8
    FROM apalis.jobs
    WHERE job_type = $1
      AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
    "#;

/// Dead tasks (retries exhausted, or killed) of the outbox queue: the reconciler reports them.
pub async fn dead_tasks(pool: &PgPool) -> Result<DeadTasks, sqlx::Error> {
    let (count, oldest_secs): (i64, Option<f64>) = sqlx::query_as(DEAD_TASKS_SQL)
        .bind(QUEUE)
        .fetch_one(pool)
        .await?;
    Ok(DeadTasks {
        count,
        oldest_age: oldest_secs.map(|s| Duration::from_secs_f64(s.max(0.0))),
    })
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
