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

static WINDOW: Mutex<Window> = Mutex::new(Window {
    last_logged: None,
    unlogged: 0,
});

/// Records one failure of `call` that is not the order's fault.
pub fn report(call: &'static str, error: &StripeCallError) {
    let class = Blame::outage_class(error);
    crate::metrics::count(
        "h2s_stripe_outage_errors_total",
        format!("call=\"{call}\",class=\"{class}\""),
        1,
    );
    let now = Instant::now();
    let mut window = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    window.unlogged += 1;
    if window
        .last_logged
        .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
    {
        return;
    }
    let failures = std::mem::take(&mut window.unlogged);
    window.last_logged = Some(now);
    drop(window);
    tracing::error!(
        call,
        class,
        %error,
        failures_since_last_line = failures,
        "STRIPE IS FAILING for reasons that are not the orders' (check the key, Stripe's status, \
         the network): checkouts stay pending and are retried; this line repeats at most once a minute"
    );
}
