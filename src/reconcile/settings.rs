//! What a sweep does and how far it looks ([`SweepOptions`]), and the `reconcile` process's
//! own flags (clap, with environment fallbacks) that set them, parsed once and turned into
//! options and a cron [`Schedule`] before anything connects.

use std::{str::FromStr, time::Duration};

use clap::Args;
use cron::Schedule;

/// Every 5 minutes, at second 0 (the `cron` crate's 6-field form: sec min hour dom mon dow).
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
pub const DEFAULT_STALE_AFTER: &str = "15m";
pub const DEFAULT_REQUEUE_AFTER: &str = "5m";
pub const DEFAULT_RETENTION: &str = "7d";
pub const DEFAULT_EXPIRY_GRACE: &str = "1h";
pub const DEFAULT_REVIVE_AFTER: &str = "5m";
pub const DEFAULT_BATCH_SIZE: u32 = 100;

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
        let d = |s: &str| parse_duration(s).expect("the default durations parse");
        SweepOptions {
            dry_run: false,
            stale_after: d(DEFAULT_STALE_AFTER),
            requeue_after: d(DEFAULT_REQUEUE_AFTER),
            expiry_grace: d(DEFAULT_EXPIRY_GRACE),
            revive_after: d(DEFAULT_REVIVE_AFTER),
            retention: d(DEFAULT_RETENTION),
            batch_size: DEFAULT_BATCH_SIZE,
            delete_batch_size: 1_000,
            stripe_concurrency: 4,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReconcileSettings {
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
    /// Accepted and ignored, for deployments that still pass it: a task's retry budget is the
    /// worker's alone (`WORKER_MAX_RETRIES` on the worker).
    #[arg(long, hide = true)]
    pub task_max_retries: Option<u32>,
}

impl ReconcileSettings {
    pub fn options(&self) -> SweepOptions {
        SweepOptions {
            dry_run: self.dry_run,
            stale_after: self.stale_after,
            requeue_after: self.requeue_after,
            expiry_grace: self.expiry_grace,
            revive_after: self.revive_after,
            retention: self.retention,
            batch_size: self.batch_size.clamp(1, 10_000),
            ..SweepOptions::default()
        }
    }

    pub fn parsed_schedule(&self) -> anyhow::Result<Schedule> {
        parse_schedule(&self.schedule)
    }
}

/// A cron expression with at least one upcoming tick.
pub fn parse_schedule(expression: &str) -> anyhow::Result<Schedule> {
    let schedule = Schedule::from_str(expression).map_err(|e| {
        // The cron crate's message echoes the expression with a caret line: keep one line.
        let message = e.to_string();
        let reason = message
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("");
        anyhow::anyhow!("invalid --schedule (env RECONCILE_SCHEDULE) {expression:?}: {reason}")
    })?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        anyhow::bail!("--schedule (env RECONCILE_SCHEDULE) {expression:?} never fires again");
    }
    Ok(schedule)
}

/// `90s`, `15m`, `23h`, `7d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 23h or 7d"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("7 weeks").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn the_default_schedule_parses_and_a_bad_one_names_the_setting() {
        assert!(parse_schedule(DEFAULT_SCHEDULE).is_ok());
        let e = format!("{:#}", parse_schedule("every now and then").unwrap_err());
        assert!(e.contains("--schedule"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}
