//! Stripe failing for reasons that are not any order's (a wrong or revoked key, rate limits,
//! 5xx, timeouts): counted per cause in a metric, and logged loudly — but once a minute per
//! process, not once per task, so that a revoked key during a busy hour is one clear line a
//! minute rather than thousands.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use super::client::{Blame, StripeCallError};

/// At most one loud line per this period.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

struct Window {
    last_logged: Option<Instant>,
    /// Outage failures since the last loud line.
    unlogged: u64,
}

impl Window {
    /// Counts one failure at `now`; `Some(failures since the last line)` when a loud line is
    /// due (the first failure, then at most once per [`LOG_EVERY`]).
    fn count(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        if self
            .last_logged
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

static WINDOW: Mutex<Window> = Mutex::new(Window {
    last_logged: None,
    unlogged: 0,
});

/// Records one failure of `call` that is not the order's fault.
pub fn report(call: &'static str, error: &StripeCallError) {
    let class = Blame::outage_class(error);
    crate::metrics::stripe_outage_error(call, class);
    let line = WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .count(Instant::now());
    let Some(failures) = line else {
        return;
    };
    tracing::error!(
        call,
        class,
        %error,
        failures_since_last_line = failures,
        "STRIPE IS FAILING for reasons that are not the orders' (check the key, Stripe's status, \
         the network): checkouts stay pending and are retried; this line repeats at most once a minute"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_failures_in_two_minutes_make_three_loud_lines() {
        let mut window = Window {
            last_logged: None,
            unlogged: 0,
        };
        let start = Instant::now();
        let lines: Vec<(u64, u64)> = (0..1_000u64)
            .filter_map(|i| {
                let at = start + Duration::from_millis(i * 121);
                window.count(at).map(|n| (i, n))
            })
            .collect();
        // At 0 s, then the first failure at or after 60 s and after 120 s; each line says
        // how many failures it stands for.
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], (0, 1));
        assert_eq!(lines.iter().map(|(_, n)| n).sum::<u64>(), lines[2].0 + 1);
    }
}
