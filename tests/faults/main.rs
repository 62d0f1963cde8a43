//! The fault suite (issue 5): the real `api` and `worker` binaries as child processes, the
//! Stripe stand-in in this process, and faults injected from outside: SIGKILLs, Stripe errors,
//! hangs and rate limits, a Postgres restart, malformed and forged input. Each scenario is
//! bounded in time and prints its counts (straight to stderr, so they show without
//! `--nocapture`). Run with `scripts/ci-faults`, or
//! `cargo test --test faults` (scenarios take a lock, so they run one at a time).

mod bad_input;
mod capture_crash;
mod chaos;
mod checkout_crash;
mod crashes;
mod db_restart;
mod db_wait;
mod dev_mode;
mod event_delivery_crash;
#[path = "../common/event_feed.rs"]
mod event_feed;
mod failover;
mod helpers;
mod load;
mod managed_postgres;
mod observability;
mod pooler;
mod proxy;
mod read_only;
mod refund_crash;
mod secrets;
mod shutdown;
mod stale_address;
mod stall;
mod stripe_faults;
#[path = "../common/test_db.rs"]
mod test_db;
mod tutorial;
mod tutorial_answers;

/// Prints a scenario's counts on the process's stderr, bypassing the test harness's capture.
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
