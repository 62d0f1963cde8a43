//! The pool's connections distrusted after a failover or a stall (`db::health`).

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::labels::{Labels1, l1};

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
        m.sync();
        m
    }

    /// Brings the counters up to `db::health`'s (which counts without depending on the
    /// metrics): called before each rendering.
    pub(crate) fn sync(&self) {
        for why in crate::db::Distrust::ALL {
            let counter = self.distrusted.get_or_create(&l1("reason", why.as_str()));
            counter.inc_by(why.count().saturating_sub(counter.get()));
        }
    }
}
