//! What a sweep did (or, in a dry run, would do): the JSON object of `--json`, and the human
//! summary otherwise. Field meanings are documented on [`SweepReport`].

use std::fmt;

use serde::Serialize;

use crate::orders::OrderId;

/// At most this many failures are listed one by one; `failed` counts them all.
pub const MAX_LISTED_FAILURES: usize = 50;

/// The report of one sweep. In a dry run every count is what the sweep *would* have done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Paid orders that broke the invariant (no job, a job not linked both ways, a job not
    /// `ready`) and were repaired: job created, linked, or made `ready` — repair (a).
    pub orphans_repaired: u64,
    /// Paid orders breaking the invariant when the sweep started (the one named query).
    pub invariant_violations_before: u64,
    /// ... and when it ended: 0 unless a repair failed (or in a dry run).
    pub invariant_violations_after: u64,
    /// `checkout.session.*` events read from Stripe's Events API — (b).
    pub events_listed: u64,
    /// Sessions retrieved one by one (past their expiry with no terminal event, or after a
    /// cursor fell out of the event window) — (b).
    pub sessions_retrieved: u64,
    /// Stripe API calls this sweep made.
    pub stripe_calls: u64,
    /// Unpaid orders whose delayed payment failed (a missed async_payment_failed) — (b).
    pub payment_failed: u64,
    /// Dead outbox tasks (any kind) revived with fresh attempts, after their backoff — (d).
    pub revived_tasks: u64,
    /// Unpaid orders whose Stripe session was in fact paid (a missed webhook): now `paid` — (b).
    pub missed_payments: u64,
    /// Unpaid orders whose Stripe session had expired: now `expired`, job cancelled — (b).
    pub expired: u64,
    /// Checkouts with no session whose outbox task was dead or missing: re-enqueued — (c).
    pub requeued: u64,
    /// Outbox tasks dead (killed, or retries exhausted) at the end of the sweep — (d).
    pub dead_tasks: u64,
    /// Finished outbox rows older than the retention, deleted — (e).
    pub deleted: u64,
    /// Repairs that failed (each listed in `failures`, up to a limit); non-zero exit.
    pub failed: u64,
    /// Wall time of the sweep.
    pub duration_ms: u64,
    /// Another sweep held the lock: this one did nothing (every count is 0).
    pub skipped: bool,
    /// Nothing was changed; counts are what would have been repaired.
    pub dry_run: bool,
    /// Unpaid orders whose session completed with the payment still pending (a delayed
    /// method): `pending_payment` → `awaiting_payment` — (b).
    pub awaiting_payment: u64,
    /// Refund and dispute events the webhook missed, applied from Stripe's list: an order
    /// refunded, disputed, its dispute won or lost — (b).
    pub money_moves: u64,
    /// Held payments (`authorized`) nearing their `capture_before` (within
    /// `CAPTURE_WARNING_HOURS`), told once each: an operator alert and the feed's
    /// `order.authorization_expiring` — (f).
    pub authorizations_expiring: u64,
    /// Held payments found lapsed at Stripe (a missed event): `authorization_expired` — (f).
    pub authorizations_lapsed: u64,
    /// Age in seconds of the oldest dead outbox task (since its last attempt), if any.
    pub oldest_dead_task_age_s: Option<u64>,
    /// The process was asked to stop: the sweep ended early, between two repairs.
    pub interrupted: bool,
    /// What failed, for whom, and why.
    pub failures: Vec<Failure>,
    /// Steps not run: `missed_webhooks` when the sweeping process has no Stripe key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_steps: Vec<&'static str>,
}

/// The repair kinds, as named in logs, metrics and `failures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Repair {
    Orphan,
    MissedPayment,
    Requeue,
    DeadTasks,
    Housekeeping,
    Holds,
}

impl Repair {
    pub fn as_str(self) -> &'static str {
        match self {
            Repair::Orphan => "orphan",
            Repair::MissedPayment => "missed_payment",
            Repair::Requeue => "requeue",
            Repair::DeadTasks => "dead_tasks",
            Repair::Housekeeping => "housekeeping",
            Repair::Holds => "holds",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub repair: Repair,
    /// `None` when a whole step failed (its query), not one order.
    pub order_id: Option<OrderId>,
    pub error: String,
}

impl SweepReport {
    /// Counts one failure, logs it with the order id, and lists it while under the limit.
    pub(super) fn fail(
        &mut self,
        repair: Repair,
        order_id: Option<&OrderId>,
        error: impl fmt::Display,
    ) {
        let error = format!("{error:#}");
        match order_id {
            Some(id) => {
                tracing::warn!(repair = repair.as_str(), order_id = %id, %error, "repair failed")
            }
            None => tracing::warn!(repair = repair.as_str(), %error, "sweep step failed"),
        }
        crate::metrics::reconcile_failure(repair.as_str());
        self.failed += 1;
        if self.failures.len() < MAX_LISTED_FAILURES {
            self.failures.push(Failure {
                repair,
                order_id: order_id.cloned(),
                error,
            });
        }
    }

    /// The `outcome` label of `h2s_reconcile_sweeps_total`.
    pub fn outcome(&self) -> &'static str {
        if self.skipped {
            "skipped"
        } else if self.failed > 0 {
            "failed"
        } else if self.interrupted {
            "interrupted"
        } else if self.dry_run {
            "dry_run"
        } else {
            "ok"
        }
    }

    pub fn succeeded(&self) -> bool {
        self.failed == 0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serialises")
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.skipped {
            return write!(f, "reconcile: sweep skipped, another sweep holds the lock");
        }
        let head = if self.dry_run {
            "reconcile dry run (nothing changed; counts are what a sweep would repair)"
        } else {
            "reconcile sweep"
        };
        writeln!(f, "{head} in {} ms:", self.duration_ms)?;
        writeln!(
            f,
            "  invariant violations: {} before, {} after",
            self.invariant_violations_before, self.invariant_violations_after
        )?;
        writeln!(
            f,
            "  stripe: {} calls, {} events listed, {} sessions retrieved",
            self.stripe_calls, self.events_listed, self.sessions_retrieved
        )?;
        self.write_repairs(f)?;
        self.write_failures(f)?;
        if self.interrupted {
            write!(
                f,
                "\n  interrupted by shutdown: the next sweep does the rest"
            )?;
        }
        Ok(())
    }
}

impl SweepReport {
    /// Counts an order moved to `now` by a missed event or a retrieved session.
    pub fn count_move(&mut self, now: crate::orders::OrderStatus) {
        use crate::orders::OrderStatus as S;
        match now {
            S::Paid => self.missed_payments += 1,
            S::Expired => self.expired += 1,
            S::AwaitingPayment => self.awaiting_payment += 1,
            S::PaymentFailed => self.payment_failed += 1,
            S::Refunded | S::Disputed | S::DisputeLost | S::Authorized | S::Released => {
                self.money_moves += 1
            }
            S::AuthorizationExpired => self.authorizations_lapsed += 1,
            S::PendingPayment | S::Failed => {}
        }
    }

    /// One line per repair kind, then the dead tasks left.
    fn write_repairs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = [
            (
                self.orphans_repaired,
                "paid orders breaking the invariant: repaired",
            ),
            (self.missed_payments, "missed payments: order paid"),
            (self.expired, "expired sessions: order expired"),
            (self.awaiting_payment, "completed sessions awaiting payment"),
            (self.payment_failed, "delayed payments failed"),
            (self.money_moves, "refunds and disputes: applied"),
            (self.requeued, "checkouts without a session: re-enqueued"),
            (self.revived_tasks, "dead outbox tasks: revived"),
            (self.deleted, "finished outbox tasks: deleted"),
        ];
        for (n, what) in lines {
            writeln!(f, "  {n:>6}  {what}")?;
        }
        match self.oldest_dead_task_age_s {
            Some(age) => writeln!(
                f,
                "  {:>6}  dead outbox tasks (oldest {age} s): see the admin dead-task list",
                self.dead_tasks
            )?,
            None => writeln!(f, "  {:>6}  dead outbox tasks", self.dead_tasks)?,
        }
        Ok(())
    }

    /// The failure count, then each listed failure.
    fn write_failures(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  {:>6}  failed", self.failed)?;
        for failure in &self.failures {
            let who = failure.order_id.as_ref().map_or("-", OrderId::as_str);
            write!(
                f,
                "\n          {} {who}: {}",
                failure.repair.as_str(),
                failure.error
            )?;
        }
        let unlisted = self.failed.saturating_sub(self.failures.len() as u64);
        if unlisted > 0 {
            write!(f, "\n          ... and {unlisted} more")?;
        }
        Ok(())
    }
}
