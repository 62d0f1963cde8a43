//! The worker's wake-ups: one `LISTEN` connection on the queue's insert channel.
//!
//! The insert trigger (migration `20261207200000_notify_per_statement`) sends at most one
//! notification per statement and queue, with a constant payload, `{"job_type": "<queue>"}`,
//! which Postgres collapses within a transaction. Each one that names this queue, and each
//! reconnection (notifications may have been missed meanwhile), wakes the fetcher; wake-ups
//! are coalesced in a channel of one. When the process distrusts its connections (a failover,
//! a stall: `db::health`) the connection is reopened, as one left on the old primary would
//! hear nothing.

use std::time::Duration;

use serde::Deserialize;
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::mpsc;

/// The channel apalis's own trigger used; ours keeps it, with a payload that carries no id.
pub const CHANNEL: &str = "apalis::job::insert";

/// What the trigger sends.
#[derive(Debug, Deserialize)]
struct Inserted<'a> {
    job_type: &'a str,
}

/// Whether `payload` announces rows of `queue` (a payload this does not parse does not).
pub fn announces(payload: &str, queue: &str) -> bool {
    serde_json::from_str::<Inserted>(payload).is_ok_and(|i| i.job_type == queue)
}

/// Runs until `wake`'s receiver is dropped (the worker ended).
pub(super) async fn listen(pool: PgPool, queue: String, wake: mpsc::Sender<()>) {
    let mut marks = crate::db::distrust_marks();
    while !wake.is_closed() {
        let opened = crate::db::mark_clock();
        let mut listener = match open(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                failed(&e).await;
                continue;
            }
        };
        // Rows inserted while no one listened: one fetch finds them.
        let _ = wake.try_send(());
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(n)) if !announces(n.payload(), &queue) => {}
                    // A notification, or a reconnection by sqlx (some may have been lost).
                    Ok(_) => {
                        let _ = wake.try_send(());
                    }
                    Err(e) => {
                        failed(&e).await;
                        break;
                    }
                },
                _ = marks.changed() => {
                    if crate::db::distrusted_since(opened) {
                        break;
                    }
                }
                () = wake.closed() => return,
            }
        }
    }
}

async fn open(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn failed(e: &sqlx::Error) {
    let outage = crate::db::outage(e).map_or("other", crate::db::Outage::as_str);
    tracing::warn!(error = %e, outage, "outbox listener failed; the poll covers until it is back");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[cfg(test)]
mod tests {
    use super::announces;

    #[test]
    fn only_the_queues_own_announcements_wake_it() {
        assert!(announces(r#"{"job_type": "h2s_outbox"}"#, "h2s_outbox"));
        assert!(announces(
            r#"{"job_type":"h2s_outbox","id":"01J"}"#,
            "h2s_outbox"
        ));
        assert!(!announces(r#"{"job_type": "other"}"#, "h2s_outbox"));
        assert!(!announces("h2s_outbox", "h2s_outbox"));
    }
}
