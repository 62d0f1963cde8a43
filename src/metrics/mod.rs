//! Process metrics on `prometheus-client` (the Prometheus project's own Rust client), served
//! as OpenMetrics text by `GET /metrics` of every long-running process. Names follow
//! Prometheus conventions: counters end in `_total` (the client appends it), durations are
//! histograms in `_seconds`, labels take a small fixed set of values (outcomes, kinds, event
//! types, endpoints), never ids. The gauges that describe the shared database (outbox depth,
//! dead tasks, the invariant) are read at scrape time (by `scrape`, which sets them here), so
//! every replica reports the same truth. This module imports nothing of the app: what it
//! counts is told to it.

mod checkout;
mod connections;
pub mod database;
mod events;
mod labels;
mod reconcile;
mod stripe;
mod tasks;
mod webhook;

use std::{sync::OnceLock, time::Duration};

use prometheus_client::{encoding::text::encode, registry::Registry};

pub use database::DatabaseFacts;

/// Every metric this library records, in groups. One instance per process ([`metrics`]).
pub struct Metrics {
    registry: Registry,
    checkouts: checkout::Checkouts,
    tasks: tasks::Tasks,
    stripe: stripe::Stripe,
    webhook: webhook::Webhook,
    reconcile: reconcile::Reconcile,
    db: database::Gauges,
    connections: connections::Connections,
    events: events::Events,
}

/// The process's metrics, registered on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("h2s");
        // Registered in this order, which is the order of the scrape's text.
        let r = &mut registry;
        let checkouts = checkout::Checkouts::register(r);
        let tasks = tasks::Tasks::register(r);
        let stripe = stripe::Stripe::register(r);
        let webhook = webhook::Webhook::register(r);
        let reconcile = reconcile::Reconcile::register(r);
        let db = database::Gauges::default();
        db.register(r);
        let connections = connections::Connections::register(r);
        let events = events::Events::register(r);
        stripe.create_zero_series();
        reconcile.create_zero_series();
        Metrics {
            registry,
            checkouts,
            tasks,
            stripe,
            webhook,
            reconcile,
            db,
            connections,
            events,
        }
    }

    /// The OpenMetrics text of every metric. The database gauges are as of the last scrape (`scrape::render_fresh` reads them, then renders).
    pub fn render(&self) -> String {
        self.connections.sync();
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The labels that exist before their first count: every task kind, every delivery
/// outcome. Given by the app (`scrape`), whose lists they are; repeating it is harmless.
pub fn declare(task_kinds: &[&'static str], delivery_outcomes: &[&'static str]) {
    let m = metrics();
    m.tasks.create_zero_series(task_kinds);
    m.events.create_zero_series(delivery_outcomes);
}

/// The database gauges, as a scrape read them (`scrape`); `up` false when it could not, the
/// gauges then staying as last read.
pub fn set_database(
    up: bool,
    kinds: &[(String, i64, f64, i64)],
    facts: &DatabaseFacts,
    endpoints: Vec<(String, f64, i64)>,
) {
    let m = metrics();
    m.db.set_up(i64::from(up));
    if up {
        for (kind, depth, oldest_age_s, dead) in kinds {
            m.db.set_kind(kind, *depth, *oldest_age_s, *dead);
        }
        m.db.set_facts(facts);
        m.events.set_endpoints(endpoints);
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn checkout(outcome: &'static str, took: Duration) {
    metrics().checkouts.answered(outcome, took);
}

/// From the order's commit to its session stored: what the customer waits for a pay link.
pub fn checkout_completed(since_order_created: Duration) {
    metrics().checkouts.completed(since_order_created);
}

/// One attempt of a task of `kind`; `failure` is its error class when it failed.
pub fn task_attempt(kind: &'static str, failure: Option<&'static str>) {
    metrics().tasks.attempt(kind, failure);
}

pub fn task_dead(kind: &'static str) {
    metrics().tasks.died(kind);
}

/// One Stripe HTTP request: `status` is the HTTP status, or `timeout` / `transport`.
pub fn stripe_request(endpoint: &'static str, status: &str, took: Duration) {
    metrics().stripe.request(endpoint, status, took);
}

pub fn stripe_outage_error(call: &'static str, class: &'static str) {
    metrics().stripe.outage_error(call, class);
}

/// A request held back by the rate cap, for `waited`.
pub fn rate_limiter_wait(waited: Duration) {
    metrics().stripe.rate_limiter_wait(waited);
}

pub fn webhook_event(event_type: &str, outcome: &'static str) {
    metrics().webhook.event(event_type, outcome);
}

/// A value of a Stripe enum `field` (`checkout.session.status`, ...) this build does not
/// know: read as "other", counted here rather than logged per event.
pub fn stripe_unknown_value(field: &'static str) {
    metrics().webhook.unknown_value(field);
}

pub fn webhook_signature_failure() {
    metrics().webhook.signature_failure();
}

/// One event delivery attempt recorded, by outcome.
pub fn event_delivery(outcome: &'static str) {
    metrics().events.delivery(outcome);
}

pub fn reconcile_sweep(outcome: &'static str, took: Duration) {
    metrics().reconcile.sweep(outcome, took);
}

pub fn reconcile_repairs(kind: &'static str, n: u64) {
    metrics().reconcile.repaired(kind, n);
}

pub fn reconcile_failure(repair: &'static str) {
    metrics().reconcile.failure(repair);
}
