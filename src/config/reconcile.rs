//! The reconciler's settings: its tree ([`ReconcileSettings`], what `reconcile` reads once)
//! and its own section ([`SweepSettings`]), turned into sweep options and a cron schedule
//! before anything connects.

use std::time::Duration;

use clap::Args;
use cron::Schedule;

use crate::config::process::ProcessSettings;
use crate::reconcile::settings::{
    DEFAULT_BATCH_SIZE, DEFAULT_CAPTURE_WARNING_HOURS, DEFAULT_EXPIRY_GRACE, DEFAULT_REQUEUE_AFTER,
    DEFAULT_RETENTION, DEFAULT_REVIVE_AFTER, DEFAULT_SCHEDULE, DEFAULT_STALE_AFTER, SweepOptions,
    parse_duration, parse_schedule,
};

/// The reconcile process's settings.
#[derive(Debug, Clone, Args)]
pub struct ReconcileSettings {
    #[command(flatten)]
    pub process: ProcessSettings,
    #[command(flatten)]
    pub sweep: SweepSettings,
}

/// What a sweep does and when sweeps run.
#[derive(Debug, Clone, Args)]
pub struct SweepSettings {
    /// When sweeps run: a cron expression with seconds (sec min hour day-of-month month
    /// day-of-week, then an optional year), in UTC.
    #[arg(long, env = "RECONCILE_SCHEDULE", default_value = DEFAULT_SCHEDULE)]
    pub schedule: String,
    /// Run one sweep, print its report and exit (for system cron or a Kubernetes CronJob).
    #[arg(long)]
    pub once: bool,
    /// Report what a sweep would repair, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print each report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Scheduled runs: serve `/metrics`, `/healthz` and `/readyz` on this address (the
    /// deployment files use 9091). Ignored with `--once`, whose figures are in its report.
    #[arg(long, env = "RECONCILE_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Unpaid orders older than this are checked against their Stripe session (`15m`, `900s`).
    #[arg(long, env = "RECONCILE_STALE_AFTER", default_value = DEFAULT_STALE_AFTER, value_parser = parse_duration)]
    pub stale_after: Duration,
    /// A checkout with no session and a dead or missing task is re-enqueued after this age.
    #[arg(long, env = "RECONCILE_REQUEUE_AFTER", default_value = DEFAULT_REQUEUE_AFTER, value_parser = parse_duration)]
    pub requeue_after: Duration,
    /// A session past its `expires_at` by this much, with no terminal event seen, is
    /// retrieved from Stripe (once per order).
    #[arg(long, env = "RECONCILE_EXPIRY_GRACE", default_value = DEFAULT_EXPIRY_GRACE, value_parser = parse_duration)]
    pub expiry_grace: Duration,
    /// A dead outbox task (any kind) is revived this long after its last attempt; the wait
    /// doubles with each revival of the same task.
    #[arg(long, env = "RECONCILE_REVIVE_AFTER", default_value = DEFAULT_REVIVE_AFTER, value_parser = parse_duration)]
    pub revive_after: Duration,
    /// Finished outbox tasks older than this are deleted.
    #[arg(long, env = "RECONCILE_RETENTION", default_value = DEFAULT_RETENTION, value_parser = parse_duration)]
    pub retention: Duration,
    /// Rows read per query; every repair kind pages through its rows in batches of this size.
    #[arg(long, env = "RECONCILE_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: u32,
    /// A held payment (manual capture) whose `capture_before` is nearer than this many hours,
    /// its job not completed, is told once: an operator alert, a metric and the feed's
    /// `order.authorization_expiring`.
    #[arg(long, env = "CAPTURE_WARNING_HOURS", default_value_t = DEFAULT_CAPTURE_WARNING_HOURS)]
    pub capture_warning_hours: u64,
    /// Accepted and ignored, for deployments that still pass it: a task's retry budget is the
    /// worker's alone (`WORKER_MAX_RETRIES` on the worker).
    #[arg(long, hide = true)]
    pub task_max_retries: Option<u32>,
}

impl SweepSettings {
    pub fn options(&self) -> SweepOptions {
        SweepOptions {
            dry_run: self.dry_run,
            stale_after: self.stale_after,
            requeue_after: self.requeue_after,
            expiry_grace: self.expiry_grace,
            revive_after: self.revive_after,
            retention: self.retention,
            batch_size: self.batch_size.clamp(1, 10_000),
            capture_warning: Duration::from_secs(self.capture_warning_hours.saturating_mul(3_600)),
            ..SweepOptions::default()
        }
    }

    pub fn parsed_schedule(&self) -> anyhow::Result<Schedule> {
        parse_schedule(&self.schedule)
    }
}
