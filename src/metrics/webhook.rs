//! Stripe's webhook deliveries: verified events by type and outcome, refused signatures; and
//! enum values in Stripe's objects (from any source) that this build does not know.

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::labels::{Labels1, Labels2, l1, l2};

pub(crate) struct Webhook {
    events: Family<Labels2, Counter>,
    signature_failures: Counter,
    unknown_values: Family<Labels1, Counter>,
}

impl Webhook {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Webhook {
            events: Family::default(),
            signature_failures: Counter::default(),
            unknown_values: Family::default(),
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
        r.register(
            "stripe_unknown_values",
            "Values of a Stripe enum field this build does not know (a newer API version), by field",
            m.unknown_values.clone(),
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

    pub(crate) fn unknown_value(&self, field: &'static str) {
        self.unknown_values.get_or_create(&l1("field", field)).inc();
    }

    pub(crate) fn signature_failure(&self) {
        self.signature_failures.inc();
    }
}
