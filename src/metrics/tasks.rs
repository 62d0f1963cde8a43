//! Outbox tasks: attempts, failures by class, deaths.

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::labels::{Labels1, Labels2, l1, l2};

const TASK_FAILURE_CLASSES: [&str; 3] = ["retryable", "outage", "permanent"];

pub(crate) struct Tasks {
    attempts: Family<Labels1, Counter>,
    failures: Family<Labels2, Counter>,
    dead: Family<Labels1, Counter>,
}

impl Tasks {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Tasks {
            attempts: Family::default(),
            failures: Family::default(),
            dead: Family::default(),
        };
        r.register(
            "outbox_task_attempts",
            "Outbox task attempts, by kind",
            m.attempts.clone(),
        );
        r.register(
            "outbox_task_failures",
            "Failed outbox task attempts, by kind and error class (retryable, outage, permanent)",
            m.failures.clone(),
        );
        r.register(
            "outbox_tasks_dead",
            "Outbox tasks that died (killed, or retries exhausted), by kind",
            m.dead.clone(),
        );
        m
    }

    /// Every kind's dead and failure series, at 0, so that a kind with nothing to report
    /// reads 0 rather than vanishing: a series that exists from the start makes `rate()` and
    /// alerts work on the first failure, not the second.
    pub(crate) fn create_zero_series(&self, kinds: &[&'static str]) {
        for &kind in kinds {
            self.dead.get_or_create(&l1("kind", kind)).inc_by(0);
            for class in TASK_FAILURE_CLASSES {
                self.failures
                    .get_or_create(&l2("kind", kind, "class", class))
                    .inc_by(0);
            }
        }
    }

    pub(crate) fn attempt(&self, kind: &'static str, failure: Option<&'static str>) {
        self.attempts.get_or_create(&l1("kind", kind)).inc();
        if let Some(class) = failure {
            self.failures
                .get_or_create(&l2("kind", kind, "class", class))
                .inc();
        }
    }

    pub(crate) fn died(&self, kind: &'static str) {
        self.dead.get_or_create(&l1("kind", kind)).inc();
    }
}
