//! Reconcile sweeps: how they ended, what they repaired, which repairs failed.

use std::time::Duration;

use prometheus_client::{
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use super::labels::{Labels1, l1, latency_buckets};

/// `reconcile::Repair::as_str` values.
const REPAIRS: [&str; 6] = [
    "orphan",
    "missed_payment",
    "requeue",
    "dead_tasks",
    "housekeeping",
    "holds",
];

pub(crate) struct Reconcile {
    sweeps: Family<Labels1, Counter>,
    repairs: Family<Labels1, Counter>,
    failures: Family<Labels1, Counter>,
    sweep_seconds: Histogram,
}

impl Reconcile {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Reconcile {
            sweeps: Family::default(),
            repairs: Family::default(),
            failures: Family::default(),
            sweep_seconds: latency_buckets(),
        };
        r.register(
            "reconcile_sweeps",
            "Reconcile sweeps run by this process, by outcome",
            m.sweeps.clone(),
        );
        r.register(
            "reconcile_repairs",
            "Repairs made by reconcile sweeps, by kind",
            m.repairs.clone(),
        );
        r.register(
            "reconcile_failures",
            "Reconcile repairs that failed, by repair",
            m.failures.clone(),
        );
        r.register(
            "reconcile_sweep_duration_seconds",
            "Wall time of reconcile sweeps",
            m.sweep_seconds.clone(),
        );
        m
    }

    /// Every repair's failure series, at 0.
    pub(crate) fn create_zero_series(&self) {
        for repair in REPAIRS {
            self.failures.get_or_create(&l1("repair", repair)).inc_by(0);
        }
    }

    pub(crate) fn sweep(&self, outcome: &'static str, took: Duration) {
        self.sweeps.get_or_create(&l1("outcome", outcome)).inc();
        self.sweep_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn repaired(&self, kind: &'static str, n: u64) {
        self.repairs.get_or_create(&l1("kind", kind)).inc_by(n);
    }

    pub(crate) fn failure(&self, repair: &'static str) {
        self.failures.get_or_create(&l1("repair", repair)).inc();
    }
}
