//! Which database errors are an outage (the database cannot serve writes now, whoever asks)
//! rather than this request's fault: the one classifier the API, the webhook and the worker
//! use, so that all three answer a failover the same way (503, or a retry that is not counted).

use sqlx::PgPool;

/// Why the database cannot serve us now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// No connection: refused, reset, timed out, the pool exhausted or closed, the server
    /// shutting down (SQLSTATE class 08, 57P).
    Unreachable,
    /// Connected, but writes are refused: a standby after failover, or a primary switched to
    /// `default_transaction_read_only` (SQLSTATE 25006, "cannot execute ... in a read-only
    /// transaction").
    ReadOnly,
    /// The server gave up on the statement (`statement_timeout`, 57014) or on the session
    /// (`idle_in_transaction_session_timeout`, 25P03): a stalled peer or network, not the
    /// request's fault.
    TimedOut,
}

impl Outage {
    /// The label logs and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outage::Unreachable => "unreachable",
            Outage::ReadOnly => "read_only",
            Outage::TimedOut => "timed_out",
        }
    }
}

/// `Some` when `e` says the database is down, read-only or gave up on us; `None` for an error
/// of the statement itself (a constraint, a bad row), which an outage's handling must not
/// hide. A read-only refusal also distrusts this process's connections (`db::health`): the one
/// that got it, and maybe others, sit on a node that takes no writes.
pub fn outage(e: &sqlx::Error) -> Option<Outage> {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => Some(Outage::Unreachable),
        sqlx::Error::Database(d) => match d.code().as_deref() {
            Some("25006") => {
                // This process's connections may sit on a node that no longer takes writes.
                super::distrust_open_connections(super::Distrust::ReadOnly);
                Some(Outage::ReadOnly)
            }
            Some("57014" | "25P03") => Some(Outage::TimedOut),
            // admin_shutdown, crash_shutdown, cannot_connect_now; connection exceptions
            Some(c) if c.starts_with("57P") || c.starts_with("08") => Some(Outage::Unreachable),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the database takes writes now: `Ok(false)` on a standby (in recovery) or when new
/// transactions default to read-only, and then the process's connections are distrusted
/// (they may sit on that node). What the readiness probes ask.
pub async fn writable(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let writable: bool = sqlx::query_scalar(
        "SELECT NOT (pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on')",
    )
    .fetch_one(pool)
    .await?;
    if !writable {
        super::distrust_open_connections(super::Distrust::ReadOnly);
    }
    Ok(writable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_outages_and_statement_errors_are_not() {
        assert_eq!(
            outage(&sqlx::Error::PoolTimedOut),
            Some(Outage::Unreachable)
        );
        assert_eq!(outage(&sqlx::Error::PoolClosed), Some(Outage::Unreachable));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(outage(&sqlx::Error::Io(io)), Some(Outage::Unreachable));
        assert_eq!(outage(&sqlx::Error::RowNotFound), None);
        assert_eq!(outage(&sqlx::Error::Protocol("odd".into())), None);
    }
}
