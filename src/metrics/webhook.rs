//! Stripe's webhook deliveries: verified events by type and outcome, refused signatures.

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::labels::{Labels2, l2};

pub(crate) struct Webhook {
    events: Family<Labels2, Counter>,
    signature_failures: Counter,
}

impl Webhook {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Webhook {
            events: Family::default(),
            signature_failures: Counter::default(),
        };
        r.register(
            "webhook_events",
            "Verified Stripe webhook events, by type and outcome",
            m.events.clone(),
        );
        r.register(
            "webhook_signature_failures",
            "Webhook deliveries refused for a bad, stale or missing signature",
            m.signature_failures.clone(),
        );
        m
    }

    pub(crate) fn event(&self, event_type: &str, outcome: &'static str) {
        // Only Stripe's own type names reach here after signature checks; bound the label anyway.
        let t: String = event_type
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            .take(64)
            .collect();
        self.events
            .get_or_create(&l2("type", t, "outcome", outcome))
            .inc();
    }

    pub(crate) fn signature_failure(&self) {
        self.signature_failures.inc();
    }
}
