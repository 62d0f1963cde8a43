//! The event feed's delivery: attempts by outcome (this process), and per endpoint the
//! pending deliveries and the age of the oldest event not delivered yet (read from the
//! database at scrape time).

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use sqlx::PgPool;

use super::labels::{Labels1, l1};

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

    pub(crate) fn create_zero_series(&self) {
        for outcome in crate::events::delivery::record::Outcome::ALL {
            self.deliveries
                .get_or_create(&l1("outcome", outcome.as_str()))
                .inc_by(0);
        }
    }

    pub(crate) fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&l1("outcome", outcome)).inc();
    }

    /// Reads the per-endpoint gauges; an endpoint deleted since the last scrape vanishes.
    pub(crate) async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let endpoints = crate::events::delivery::health::endpoints(pool).await?;
        self.oldest_age.clear();
        self.pending.clear();
        for e in endpoints {
            let label = [("endpoint", e.endpoint_id.to_string())];
            self.oldest_age
                .get_or_create(&label)
                .set(e.oldest_undelivered_age_s);
            self.pending.get_or_create(&label).set(e.pending);
        }
        Ok(())
    }
}
