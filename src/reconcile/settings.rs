//! What a sweep does and how far it looks ([`SweepOptions`]) and when sweeps run (a cron
//! [`Schedule`]); the `reconcile` process's flags that set them are `config::ReconcileSettings`.

use std::{str::FromStr, time::Duration};

use cron::Schedule;

/// Every 5 minutes, at second 0 (the `cron` crate's 6-field form: sec min hour dom mon dow).
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
pub const DEFAULT_STALE_AFTER: &str = "15m";
pub const DEFAULT_REQUEUE_AFTER: &str = "5m";
pub const DEFAULT_RETENTION: &str = "7d";
pub const DEFAULT_EXPIRY_GRACE: &str = "1h";
pub const DEFAULT_REVIVE_AFTER: &str = "5m";
pub const DEFAULT_BATCH_SIZE: u32 = 100;
pub const DEFAULT_CAPTURE_WARNING_HOURS: u64 = 24;

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
    /// (f) A held payment whose `capture_before` is nearer than this is told (once).
    pub capture_warning: Duration,
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
            capture_warning: Duration::from_secs(DEFAULT_CAPTURE_WARNING_HOURS * 3_600),
        }
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
