//! The event feed's delivery: attempts by outcome (this process), and per endpoint the
//! pending deliveries and the age of the oldest event not delivered yet (read from the
//! database at scrape time).

use std::sync::atomic::AtomicU64;

use super::labels::{Labels1, l1};
use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

type F64Gauge = Gauge<f64, AtomicU64>;
type EndpointLabel = [(&'static str, String); 1];

pub(crate) struct Events {
    deliveries: Family<Labels1, Counter>,
    oldest_age: Family<EndpointLabel, F64Gauge>,
    pending: Family<EndpointLabel, Gauge>,
}

impl Events {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Events {
            deliveries: Family::default(),
            oldest_age: Family::default(),
            pending: Family::default(),
        };
        r.register(
            "event_deliveries",
            "Event delivery attempts by outcome (delivered, retrying, failed: schedule spent, \
             lease_lost)",
            m.deliveries.clone(),
        );
        r.register(
            "event_oldest_undelivered_age_seconds",
            "Age of the oldest event not yet delivered to the endpoint (pending), by endpoint id",
            m.oldest_age.clone(),
        );
        r.register(
            "event_pending_deliveries",
            "Event deliveries not yet delivered and still on the retry schedule, by endpoint id",
            m.pending.clone(),
        );
        m
    }

    pub(crate) fn create_zero_series(&self, outcomes: &[&'static str]) {
        for &outcome in outcomes {
            self.deliveries
                .get_or_create(&l1("outcome", outcome))
                .inc_by(0);
        }
    }

    pub(crate) fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&l1("outcome", outcome)).inc();
    }

    /// The per-endpoint gauges, `(endpoint id, oldest undelivered age, pending)`: an
    /// endpoint not among them (deleted since the last scrape) vanishes.
    pub(crate) fn set_endpoints(&self, endpoints: impl IntoIterator<Item = (String, f64, i64)>) {
        self.oldest_age.clear();
        self.pending.clear();
        for (endpoint, oldest_age_s, pending) in endpoints {
            let label = [("endpoint", endpoint)];
            self.oldest_age.get_or_create(&label).set(oldest_age_s);
            self.pending.get_or_create(&label).set(pending);
        }
    }
}
