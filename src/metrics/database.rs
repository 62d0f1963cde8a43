//! Gauges that describe the shared database rather than this process, read at scrape time:
//! the same answer from every replica, so alert rules take `max()` across instances.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};

type F64Gauge = Gauge<f64, AtomicU64>;
type Labels = [(&'static str, String); 1];

#[derive(Default)]
pub struct Gauges {
    outbox_depth: Family<Labels, Gauge>,
    outbox_oldest_age: Family<Labels, F64Gauge>,
    outbox_dead: Family<Labels, Gauge>,
    invariant_violations: Gauge,
    orphan_orders: Gauge,
    operator_alerts: Gauge,
    last_success: F64Gauge,
    database_up: Gauge,
}

impl Gauges {
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register(
            "outbox_depth",
            "Outbox tasks waiting or running, by kind",
            self.outbox_depth.clone(),
        );
        r.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox task due and not yet done, by kind",
            self.outbox_oldest_age.clone(),
        );
        r.register(
            "outbox_dead_tasks",
            "Outbox tasks dead (killed, or retries exhausted) until revived, by kind",
            self.outbox_dead.clone(),
        );
        r.register(
            "invariant_violations",
            "Paid orders without exactly one linked dispatch job in status ready or later",
            self.invariant_violations.clone(),
        );
        r.register(
            "orphan_orders",
            "Paid orders with no dispatch job at all",
            self.orphan_orders.clone(),
        );
        r.register(
            "operator_alerts_open",
            "Operator alerts not yet resolved (a dispute opened, a refund of a dispatched job)",
            self.operator_alerts.clone(),
        );
        r.register(
            "reconcile_last_success_timestamp_seconds",
            "Unix time of the last sweep (not a dry run) without a failed repair; 0 if none",
            self.last_success.clone(),
        );
        r.register(
            "database_up",
            "1 when this scrape could read the database gauges, else 0",
            self.database_up.clone(),
        );
    }

    pub(crate) fn set_up(&self, up: i64) {
        self.database_up.set(up);
    }

    /// One task kind's depth, oldest due age and dead tasks.
    pub fn set_kind(&self, kind: &str, depth: i64, oldest_age_s: f64, dead: i64) {
        let label = [("kind", kind.to_owned())];
        self.outbox_depth.get_or_create(&label).set(depth);
        self.outbox_oldest_age
            .get_or_create(&label)
            .set(oldest_age_s);
        self.outbox_dead.get_or_create(&label).set(dead);
    }

    /// The gauges of the orders, alerts and sweeps.
    pub fn set_facts(&self, facts: &DatabaseFacts) {
        self.invariant_violations.set(facts.invariant_violations);
        self.orphan_orders.set(facts.orphan_orders);
        self.operator_alerts.set(facts.operator_alerts);
        self.last_success.set(facts.last_sweep_success_s);
    }
}

/// What a scrape reads of the orders, the alerts and the sweeps (`scrape`).
#[derive(Debug, Default)]
pub struct DatabaseFacts {
    pub invariant_violations: i64,
    pub orphan_orders: i64,
    pub operator_alerts: i64,
    /// Unix time of the last sweep without a failed repair; 0 if none.
    pub last_sweep_success_s: f64,
}
