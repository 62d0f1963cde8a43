//! What the delivery loop needs (its flags are `config::DeliverySettings`) and the retry
//! schedule.

use std::time::Duration;

use crate::events::address::AddressPolicy;

/// Svix's retry schedule: the delay before each attempt, the first one immediate. After the
/// last one fails the delivery is `failed` (an operator may replay it).
pub const SVIX_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_ENDPOINT_CONCURRENCY: u32 = 4;
pub const DEFAULT_EVENT_LOG_RETENTION_DAYS: u32 = 30;
/// An endpoint whose every attempt failed for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);

/// What the delivery loop needs, already validated.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub policy: AddressPolicy,
    pub timeout: Duration,
    /// The delay before each attempt (see [`SVIX_SCHEDULE`]); its length is the number of
    /// attempts.
    pub schedule: Vec<Duration>,
    pub endpoint_concurrency: u32,
    /// Deliveries in flight at once in this process, all endpoints together.
    pub concurrency: usize,
    /// The longest the loop sleeps without a notification (deliveries due are found at once
    /// otherwise: by `NOTIFY`, or by the time the next one is due).
    pub poll_interval: Duration,
    pub retention: Duration,
    pub disable_after: Duration,
}

impl DeliveryConfig {
    /// The defaults, with `policy`.
    pub fn new(policy: AddressPolicy) -> DeliveryConfig {
        DeliveryConfig {
            policy,
            timeout: Duration::from_millis(DEFAULT_DELIVERY_TIMEOUT_MS),
            schedule: SVIX_SCHEDULE.to_vec(),
            endpoint_concurrency: DEFAULT_ENDPOINT_CONCURRENCY,
            concurrency: 256,
            poll_interval: Duration::from_secs(5),
            retention: Duration::from_secs(u64::from(DEFAULT_EVENT_LOG_RETENTION_DAYS) * 86_400),
            disable_after: DISABLE_AFTER,
        }
    }

    /// How long a claimed delivery is held: the timeout, and a margin for recording the
    /// outcome. A worker killed mid-delivery holds it no longer than this.
    pub fn lease(&self) -> Duration {
        self.timeout + (self.timeout / 3).max(Duration::from_secs(1))
    }

    /// After attempt number `attempts` (1 for the first) failed: the delay before the next
    /// one, or `None` when the schedule is spent.
    pub fn retry_after(&self, attempts: i32) -> Option<Duration> {
        let next = usize::try_from(attempts).unwrap_or(0);
        self.schedule.get(next).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_svix_then_stop() {
        let c = DeliveryConfig::new(AddressPolicy::default());
        let delays: Vec<u64> = (1..=8)
            .map_while(|n| c.retry_after(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(c.retry_after(8), None, "eight attempts in all");
        assert_eq!(c.lease(), Duration::from_secs(20));
    }
}
