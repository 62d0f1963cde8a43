//! How long a failed task waits before its next attempt.

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

    /// Attempts a task gets under this policy: the first try plus the retries. The service
    /// writes it on a row when an attempt fails (see `outbox::UNSET_MAX_ATTEMPTS`).
    pub fn max_attempts(&self) -> i32 {
        i32::try_from(self.max_retries)
            .unwrap_or(i32::MAX)
            .saturating_add(1)
            .min(crate::outbox::UNSET_MAX_ATTEMPTS - 1)
    }
}
