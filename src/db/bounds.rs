//! How long anything may wait on the database: acquiring a connection (which bounds opening
//! one), a statement, a transaction left idle, and the TCP keepalives that make the server
//! notice a client that vanished. What the README's runbook ("Timeouts and keepalives")
//! documents and `--database-*` flags set.

use std::time::Duration;

/// The bounds of one process's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Longest wait for a pooled connection, opening a new one (TCP, TLS, authentication,
    /// the session setup) included. A stalled connection met on the way is given up with it.
    pub acquire: Duration,
    /// `statement_timeout` of every session; zero: none.
    pub statement: Duration,
    /// `idle_in_transaction_session_timeout` of every session; zero: none. The server ends a
    /// session whose client stalled in the middle of a transaction, and frees its row locks.
    pub idle_in_transaction: Duration,
    /// The server's TCP keepalives on each session: first probe after this much silence, then
    /// three more a third of it apart, and `tcp_user_timeout` at the same total, so that a
    /// client gone without a FIN is dropped (and its transaction rolled back) within
    /// twice this. Zero: the server's own settings.
    pub keepalive: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            acquire: Duration::from_secs(3),
            statement: Duration::from_secs(10),
            idle_in_transaction: Duration::from_secs(30),
            keepalive: Duration::from_secs(30),
        }
    }
}

impl Bounds {
    /// One simple-protocol batch (one round trip, once per new connection): the session's
    /// bounds, then whether this node takes writes (the last statement's one row: `true` when
    /// it is a standby or defaults to read-only transactions).
    pub(crate) fn session_setup_sql(&self) -> String {
        let mut sql = format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}; ",
            self.statement.as_millis(),
            self.idle_in_transaction.as_millis()
        );
        let idle = self.keepalive.as_secs();
        if idle > 0 {
            let interval = (idle / 3).max(1);
            sql.push_str(&format!(
                "SET tcp_keepalives_idle = {idle}; SET tcp_keepalives_interval = {interval}; \
                 SET tcp_keepalives_count = 3; SET tcp_user_timeout = {}; ",
                (idle + 3 * interval) * 1000
            ));
        }
        sql.push_str(
            "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
        );
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_setup_sets_every_bound_and_asks_whether_the_node_is_read_only() {
        let sql = Bounds::default().session_setup_sql();
        assert!(sql.contains("SET statement_timeout = 10000;"), "{sql}");
        assert!(sql.contains("idle_in_transaction_session_timeout = 30000;"));
        assert!(sql.contains("tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10;"));
        assert!(sql.contains("tcp_user_timeout = 60000;"), "{sql}");
        assert!(sql.ends_with("current_setting('transaction_read_only') = 'on'"));
    }

    #[test]
    fn a_zero_keepalive_leaves_the_servers_own_settings() {
        let bounds = Bounds {
            keepalive: Duration::ZERO,
            ..Bounds::default()
        };
        assert!(!bounds.session_setup_sql().contains("tcp_"));
    }
}
