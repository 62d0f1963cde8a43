//! Faults nobody injected: a machine so busy (other builds and test runs share its two cores)
//! that opening a connection or committing takes seconds. A probe opens a fresh connection
//! through the proxy, as a process's pool does after a failover, and commits a transaction
//! with an id (`txid_current()`: a commit record, so it waits for the synchronous standby
//! too), every quarter second; a probe slower than a second, or failing, opens an observed
//! `db_slow` window, which the checker treats as the database being unreachable (503s are the
//! right answer then). A database that answers a new client fast while an api answers 503
//! stays a breach.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::chaos::history::History;

const SLOW: Duration = Duration::from_secs(1);

/// Probes until `stop` is set (the task ends after recording an open window).
pub fn observe(
    db_url: String,
    history: Arc<History>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut slow_since: Option<Instant> = None;
        while !*stop.borrow() {
            let started = Instant::now();
            let fast = matches!(tokio::time::timeout(SLOW, probe(&db_url)).await, Ok(Ok(_)));
            match (fast, slow_since) {
                (false, None) => slow_since = Some(started),
                (true, Some(since)) => {
                    history.fault("db_slow", "postgres (observed)", since);
                    slow_since = None;
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if let Some(since) = slow_since {
            history.fault("db_slow", "postgres (observed)", since);
        }
    })
}

/// A new connection, and one commit on it.
async fn probe(url: &str) -> Result<i64, sqlx::Error> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let id = sqlx::query_scalar("SELECT txid_current()")
        .fetch_one(&mut connection)
        .await?;
    let _ = connection.close().await;
    Ok(id)
}
