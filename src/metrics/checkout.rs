//! The storefront's checkouts: how they were answered, and how long the customer waited.

use std::time::Duration;

use prometheus_client::{
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use super::labels::{Labels1, l1, latency_buckets};

pub(crate) struct Checkouts {
    checkouts: Family<Labels1, Counter>,
    accept_seconds: Histogram,
    end_to_end_seconds: Histogram,
}

impl Checkouts {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Checkouts {
            checkouts: Family::default(),
            accept_seconds: latency_buckets(),
            end_to_end_seconds: latency_buckets(),
        };
        r.register(
            "checkouts",
            "Checkout requests answered, by outcome",
            m.checkouts.clone(),
        );
        r.register(
            "checkout_accept_duration_seconds",
            "Time POST /api/shop took to answer (200, 202 or 422)",
            m.accept_seconds.clone(),
        );
        r.register(
            "checkout_end_to_end_duration_seconds",
            "Time from the order's commit to its Stripe session stored (worker side)",
            m.end_to_end_seconds.clone(),
        );
        m
    }

    pub(crate) fn answered(&self, outcome: &'static str, took: Duration) {
        self.checkouts.get_or_create(&l1("outcome", outcome)).inc();
        self.accept_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn completed(&self, since_order_created: Duration) {
        self.end_to_end_seconds
            .observe(since_order_created.as_secs_f64());
    }
}
