//! Process metrics on `prometheus-client` (the Prometheus project's own Rust client), served
//! as OpenMetrics text by `GET /metrics` of every long-running process. Names follow
//! Prometheus conventions: counters end in `_total` (the client appends it), durations are
//! histograms in `_seconds`, labels take a small fixed set of values (outcomes, kinds, event
//! types, endpoints), never ids. The gauges that describe the shared database (outbox depth,
//! dead tasks, the invariant) are read at scrape time ([`database`]), so every replica
//! reports the same truth.

pub mod database;

use std::{sync::OnceLock, time::Duration};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// The outbox task kinds (`OutboxTask::kind`), so that a kind with nothing to report reads 0
/// rather than vanishing: a series that exists from the start makes `rate()` and alerts
/// work on the first failure, not the second.
pub const TASK_KINDS: [&str; 3] = ["checkout", "ensure_dispatch_job", "notify_paid"];
const TASK_FAILURE_CLASSES: [&str; 3] = ["retryable", "outage", "permanent"];
/// `stripe::Blame::outage_class` values.
const OUTAGE_CLASSES: [&str; 8] = [
    "authentication",
    "permission",
    "rate_limit",
    "server",
    "other",
    "timeout",
    "connection",
    "decode",
];
/// `reconcile::Repair::as_str` values.
const REPAIRS: [&str; 5] = [
    "orphan",
    "missed_payment",
    "requeue",
    "dead_tasks",
    "housekeeping",
];

type Labels1 = [(&'static str, String); 1];
type Labels2 = [(&'static str, String); 2];

/// Latency buckets from 5 ms to ~40 s: a checkout answer, a Stripe call, a sweep.
fn latency_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0,
    ])
}

/// Every metric this library records. One instance per process ([`metrics`]).
pub struct Metrics {
    registry: Registry,
    checkouts: Family<Labels1, Counter>,
    checkout_accept_seconds: Histogram,
    checkout_end_to_end_seconds: Histogram,
    task_attempts: Family<Labels1, Counter>,
    task_failures: Family<Labels2, Counter>,
    tasks_dead: Family<Labels1, Counter>,
    stripe_requests: Family<Labels2, Counter>,
    stripe_request_seconds: Family<Labels1, Histogram>,
    stripe_outage_errors: Family<Labels2, Counter>,
    rate_limiter_waits: Counter,
    rate_limiter_wait_seconds: Histogram,
    webhook_events: Family<Labels2, Counter>,
    webhook_signature_failures: Counter,
    reconcile_sweeps: Family<Labels1, Counter>,
    reconcile_repairs: Family<Labels1, Counter>,
    reconcile_failures: Family<Labels1, Counter>,
    reconcile_sweep_seconds: Histogram,
    db: database::Gauges,
}

/// The process's metrics, registered on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("h2s");
        let m = Metrics {
            registry: Registry::default(),
            checkouts: Family::default(),
            checkout_accept_seconds: latency_buckets(),
            checkout_end_to_end_seconds: latency_buckets(),
            task_attempts: Family::default(),
            task_failures: Family::default(),
            tasks_dead: Family::default(),
            stripe_requests: Family::default(),
            stripe_request_seconds: Family::new_with_constructor(latency_buckets),
            stripe_outage_errors: Family::default(),
            rate_limiter_waits: Counter::default(),
            rate_limiter_wait_seconds: latency_buckets(),
            webhook_events: Family::default(),
            webhook_signature_failures: Counter::default(),
            reconcile_sweeps: Family::default(),
            reconcile_repairs: Family::default(),
            reconcile_failures: Family::default(),
            reconcile_sweep_seconds: latency_buckets(),
            db: database::Gauges::default(),
        };
        let r = &mut registry;
        r.register(
            "checkouts",
            "Checkout requests answered, by outcome",
            m.checkouts.clone(),
        );
        r.register(
            "checkout_accept_duration_seconds",
            "Time POST /api/shop took to answer (200, 202 or 422)",
            m.checkout_accept_seconds.clone(),
        );
        r.register(
            "checkout_end_to_end_duration_seconds",
            "Time from the order's commit to its Stripe session stored (worker side)",
            m.checkout_end_to_end_seconds.clone(),
        );
        r.register(
            "outbox_task_attempts",
            "Outbox task attempts, by kind",
            m.task_attempts.clone(),
        );
        r.register(
            "outbox_task_failures",
            "Failed outbox task attempts, by kind and error class (retryable, outage, permanent)",
            m.task_failures.clone(),
        );
        r.register(
            "outbox_tasks_dead",
            "Outbox tasks that died (killed, or retries exhausted), by kind",
            m.tasks_dead.clone(),
        );
        r.register(
            "stripe_requests",
            "Stripe API requests, by endpoint and HTTP status (or timeout, transport)",
            m.stripe_requests.clone(),
        );
        r.register(
            "stripe_request_duration_seconds",
            "Stripe API request latency, by endpoint",
            m.stripe_request_seconds.clone(),
        );
        r.register(
            "stripe_outage_errors",
            "Stripe failures that are not the order's fault, by call and class",
            m.stripe_outage_errors.clone(),
        );
        r.register(
            "stripe_rate_limiter_waits",
            "Stripe requests that waited for the process-wide rate cap",
            m.rate_limiter_waits.clone(),
        );
        r.register(
            "stripe_rate_limiter_wait_seconds",
            "Time Stripe requests waited for the rate cap",
            m.rate_limiter_wait_seconds.clone(),
        );
        r.register(
            "webhook_events",
            "Verified Stripe webhook events, by type and outcome",
            m.webhook_events.clone(),
        );
        r.register(
            "webhook_signature_failures",
            "Webhook deliveries refused for a bad, stale or missing signature",
            m.webhook_signature_failures.clone(),
        );
        r.register(
            "reconcile_sweeps",
            "Reconcile sweeps run by this process, by outcome",
            m.reconcile_sweeps.clone(),
        );
        r.register(
            "reconcile_repairs",
            "Repairs made by reconcile sweeps, by kind",
            m.reconcile_repairs.clone(),
        );
        r.register(
            "reconcile_failures",
            "Reconcile repairs that failed, by repair",
            m.reconcile_failures.clone(),
        );
        r.register(
            "reconcile_sweep_duration_seconds",
            "Wall time of reconcile sweeps",
            m.reconcile_sweep_seconds.clone(),
        );
        m.db.register(r);
        for kind in TASK_KINDS {
            m.tasks_dead.get_or_create(&l1("kind", kind)).inc_by(0);
            for class in TASK_FAILURE_CLASSES {
                m.task_failures
                    .get_or_create(&l2("kind", kind, "class", class))
                    .inc_by(0);
            }
        }
        for class in OUTAGE_CLASSES {
            m.stripe_outage_errors
                .get_or_create(&l2("call", "create_session", "class", class))
                .inc_by(0);
        }
        for repair in REPAIRS {
            m.reconcile_failures
                .get_or_create(&l1("repair", repair))
                .inc_by(0);
        }
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text of every metric. The database gauges are as of the last
    /// [`database::refresh`]; [`render_fresh`] does both.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Reads the database gauges, then renders everything: what `GET /metrics` answers. With
/// the database unreachable the process's own counters are still served (they matter most
/// then), with `h2s_database_up 0` and the database gauges as last read.
pub async fn render_fresh(pool: &sqlx::PgPool) -> String {
    let m = metrics();
    let up = match m.db.refresh(pool).await {
        Ok(()) => 1,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database gauges could not be read");
            0
        }
    };
    m.db.set_up(up);
    m.render()
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn l1(k: &'static str, v: impl Into<String>) -> Labels1 {
    [(k, v.into())]
}

fn l2(k1: &'static str, v1: impl Into<String>, k2: &'static str, v2: impl Into<String>) -> Labels2 {
    [(k1, v1.into()), (k2, v2.into())]
}

pub fn checkout(outcome: &'static str, took: Duration) {
    let m = metrics();
    m.checkouts.get_or_create(&l1("outcome", outcome)).inc();
    m.checkout_accept_seconds.observe(took.as_secs_f64());
}

/// From the order's commit to its session stored: what the customer waits for a pay link.
pub fn checkout_completed(since_order_created: Duration) {
    metrics()
        .checkout_end_to_end_seconds
        .observe(since_order_created.as_secs_f64());
}

/// One attempt of a task of `kind`; `failure` is its error class when it failed.
pub fn task_attempt(kind: &'static str, failure: Option<&'static str>) {
    let m = metrics();
    m.task_attempts.get_or_create(&l1("kind", kind)).inc();
    if let Some(class) = failure {
        m.task_failures
            .get_or_create(&l2("kind", kind, "class", class))
            .inc();
    }
}

pub fn task_dead(kind: &'static str) {
    metrics().tasks_dead.get_or_create(&l1("kind", kind)).inc();
}

/// One Stripe HTTP request: `status` is the HTTP status, or `timeout` / `transport`.
pub fn stripe_request(endpoint: &'static str, status: &str, took: Duration) {
    let m = metrics();
    m.stripe_requests
        .get_or_create(&l2("endpoint", endpoint, "status", status))
        .inc();
    m.stripe_request_seconds
        .get_or_create(&l1("endpoint", endpoint))
        .observe(took.as_secs_f64());
}

pub fn stripe_outage_error(call: &'static str, class: &'static str) {
    metrics()
        .stripe_outage_errors
        .get_or_create(&l2("call", call, "class", class))
        .inc();
}

/// A request held back by the rate cap, for `waited`.
pub fn rate_limiter_wait(waited: Duration) {
    let m = metrics();
    m.rate_limiter_waits.inc();
    m.rate_limiter_wait_seconds.observe(waited.as_secs_f64());
}

pub fn webhook_event(event_type: &str, outcome: &'static str) {
    // Only Stripe's own type names reach here after signature checks; bound the label anyway.
    let t: String = event_type
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .take(64)
        .collect();
    metrics()
        .webhook_events
        .get_or_create(&l2("type", t, "outcome", outcome))
        .inc();
}

pub fn webhook_signature_failure() {
    metrics().webhook_signature_failures.inc();
}

pub fn reconcile_sweep(outcome: &'static str, took: Duration) {
    let m = metrics();
    m.reconcile_sweeps
        .get_or_create(&l1("outcome", outcome))
        .inc();
    m.reconcile_sweep_seconds.observe(took.as_secs_f64());
}

pub fn reconcile_repairs(kind: &'static str, n: u64) {
    metrics()
        .reconcile_repairs
        .get_or_create(&l1("kind", kind))
        .inc_by(n);
}

pub fn reconcile_failure(repair: &'static str) {
    metrics()
        .reconcile_failures
        .get_or_create(&l1("repair", repair))
        .inc();
}
