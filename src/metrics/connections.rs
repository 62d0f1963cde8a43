//! The pool's connections distrusted after a failover or a stall (`db::health`).

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::labels::{Labels1, l1};

/// `db::Distrust::as_str` values.
const REASONS: [&str; 2] = ["read_only", "stalled"];

pub(crate) struct Connections {
    distrusted: Family<Labels1, Counter>,
}

impl Connections {
    pub(crate) fn register(r: &mut Registry) -> Self {
        let m = Connections {
            distrusted: Family::default(),
        };
        r.register(
            "db_connections_distrusted",
            "Times this process distrusted every open database connection (closed at their \
             next use), by reason: read_only (25006, a node in recovery), stalled (a request \
             or task outlived its bound)",
            m.distrusted.clone(),
        );
        for reason in REASONS {
            m.distrusted.get_or_create(&l1("reason", reason)).inc_by(0);
        }
        m
    }

    pub(crate) fn distrusted(&self, reason: &'static str) {
        self.distrusted.get_or_create(&l1("reason", reason)).inc();
    }
}
