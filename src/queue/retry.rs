//! Whether a failed task runs again, and after how long: the one place the worker decides a
//! retry (the task says only how it failed, `TaskError`).

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with equal jitter, a cap, and the server's `Retry-After` as a floor.
///
/// After failed attempt `n` (1-based) the task waits a uniformly random time in
/// `[w/2, w)` where `w = min(cap, base·2^n)`: so at least `base·2^(n-1)` (the first retry
/// waits at least `base`) while retries that failed together spread over the window instead
/// of hitting a recovering dependency at the same instant. A `Retry-After` longer than that
/// wins, even above `cap`: the server knows better than our guess.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt; the task is dead after `1 + max_retries` attempts.
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1 = the first try), never less than
    /// `retry_after` when given.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let window = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.max(1)))
            .min(self.cap);
        let half = window / 2;
        let delay = half + half.mul_f64(rand::rng().random::<f64>());
        match retry_after {
            Some(floor) => delay.max(floor),
            None => delay,
        }
    }

    /// What follows failed attempt `attempt` (1 = the first try). The row's `max_attempts` is
    /// `queue::UNSET_MAX_ATTEMPTS` from `enqueue`, or what a worker wrote at an earlier
    /// failure, maybe under other settings: this worker's policy is the one in force, and the
    /// row is brought to it (up or down) so that it reads dead exactly when this worker gives
    /// up. An outage is not the task's failure: its row always keeps one more attempt, so it
    /// comes back after the capped backoff for as long as the outage lasts.
    pub fn after_failure(
        &self,
        attempt: i32,
        outage: bool,
        retry_after: Option<Duration>,
    ) -> Verdict {
        let mut allowed = self.max_attempts();
        if outage {
            allowed = allowed.max(attempt.saturating_add(1));
        }
        let next_in = (attempt < allowed)
            .then(|| self.delay(u32::try_from(attempt).unwrap_or(1), retry_after));
        Verdict { allowed, next_in }
    }

    /// Attempts a task gets under this policy: the first try plus the retries. The service
    /// writes it on a row when an attempt fails (see `queue::UNSET_MAX_ATTEMPTS`).
    pub fn max_attempts(&self) -> i32 {
        i32::try_from(self.max_retries)
            .unwrap_or(i32::MAX)
            .saturating_add(1)
            .min(super::UNSET_MAX_ATTEMPTS - 1)
    }
}

/// The decision after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The `max_attempts` the task's row must carry from now on.
    pub allowed: i32,
    /// When the next attempt runs; `None`: the task is dead.
    pub next_in: Option<Duration>,
}
