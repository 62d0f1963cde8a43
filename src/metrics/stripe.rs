//! Stripe calls: requests by endpoint and status, outages by class, the rate cap's waits.

use std::time::Duration;

use prometheus_client::{
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use super::labels::{Labels1, Labels2, l1, l2, latency_buckets};

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

pub(crate) struct Stripe {
    requests: Family<Labels2, Counter>,
    request_seconds: Family<Labels1, Histogram>,
    outage_errors: Family<Labels2, Counter>,
    rate_limiter_waits: Counter,
    rate_limiter_wait_seconds: Histogram,
}

impl Stripe {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Stripe {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_buckets),
            outage_errors: Family::default(),
            rate_limiter_waits: Counter::default(),
            rate_limiter_wait_seconds: latency_buckets(),
        };
        r.register(
            "stripe_requests",
            "Stripe API requests, by endpoint and HTTP status (or timeout, transport)",
            m.requests.clone(),
        );
        r.register(
            "stripe_request_duration_seconds",
            "Stripe API request latency, by endpoint",
            m.request_seconds.clone(),
        );
        r.register(
            "stripe_outage_errors",
            "Stripe failures that are not the order's fault, by call and class",
            m.outage_errors.clone(),
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
        m
    }

    /// Every outage class of the session creation, at 0.
    pub(crate) fn create_zero_series(&self) {
        for class in OUTAGE_CLASSES {
            self.outage_errors
                .get_or_create(&l2("call", "create_session", "class", class))
                .inc_by(0);
        }
    }

    pub(crate) fn request(&self, endpoint: &'static str, status: &str, took: Duration) {
        self.requests
            .get_or_create(&l2("endpoint", endpoint, "status", status))
            .inc();
        self.request_seconds
            .get_or_create(&l1("endpoint", endpoint))
            .observe(took.as_secs_f64());
    }

    pub(crate) fn outage_error(&self, call: &'static str, class: &'static str) {
        self.outage_errors
            .get_or_create(&l2("call", call, "class", class))
            .inc();
    }

    pub(crate) fn rate_limiter_wait(&self, waited: Duration) {
        self.rate_limiter_waits.inc();
        self.rate_limiter_wait_seconds.observe(waited.as_secs_f64());
    }
}
