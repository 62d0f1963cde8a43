#![forbid(unsafe_code)]
// The futures of the sweep hold async-stripe objects whose types nest deeper than the
// default limit lets the compiler prove them `Send`.
#![recursion_limit = "256"]
//! h2s-dispatch: every paid order gets exactly one dispatch job.
//!
//! Three layers share this library: the checkout API with its transactional outbox and the
//! worker that drains it; the Stripe webhook; the reconciler. See the README.

// The shared test-database helper (`tests/common/test_db.rs`) names the crate as the test
// sets do.
#[cfg(test)]
extern crate self as h2s_dispatch;
/// Fresh databases for the unit tests that need one.
#[cfg(test)]
#[path = "../tests/common/test_db.rs"]
mod test_db;

pub mod alerts;
pub mod app;
pub mod checkout;
pub mod config;
pub mod db;
#[cfg(feature = "dev")]
pub mod dev;
pub mod dispatch;
pub mod events;
pub mod http;
pub mod ids;
pub mod invariant;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod queue;
pub mod recipients;
pub mod reconcile;
pub mod refunds;
pub mod scrape;
pub mod secrets;
pub mod stop;
pub mod stored;
pub mod stripe;
pub mod telemetry;
pub mod worker;
