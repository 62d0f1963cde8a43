//! Faults nobody injected: a machine so busy (other builds and test runs share its two cores)
//! that opening a connection or committing takes seconds. A probe opens a fresh connection
//! through the proxy, as a process's pool does after a failover, and commits a write (which
//! waits for the synchronous standby, as the processes' commits do), every quarter second;
//! a probe slower than a second, or failing, opens an observed `db_slow` window, which the
//! checker treats as the database being unreachable (503s are the right answer then). Each
//! api's `/healthz` (which needs no database) is probed too: one that takes over a second is
//! a process starved of CPU, and its `api_slow` window explains that api's slow answers. A
//! database that answers a new client fast while a responsive api answers 503 stays a
//! breach.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::chaos::history::History;

const SLOW: Duration = Duration::from_secs(1);

/// Probes until `stop` is set (the task ends after recording an open window).
pub fn observe(
    db_url: String,
    apis: Vec<String>,
    history: Arc<History>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = crate::chaos::client::http(SLOW);
        // The database, then each api's `/healthz` (no database: a slow one is a starved
        // process; a refused one is down, which the nemesis's own window tells).
        let mut windows = vec![Window::new("db_slow", "postgres (observed)".to_owned())];
        for (i, _) in apis.iter().enumerate() {
            windows.push(Window::new("api_slow", format!("api{i}")));
        }
        while !*stop.borrow() {
            let started = Instant::now();
            let fast = matches!(tokio::time::timeout(SLOW, probe(&db_url)).await, Ok(Ok(_)));
            windows[0].saw(fast, started, &history);
            for (i, api) in apis.iter().enumerate() {
                let started = Instant::now();
                let answer = http.get(format!("{api}/healthz")).send().await;
                let slow = matches!(&answer, Err(e) if e.is_timeout());
                windows[i + 1].saw(!slow, started, &history);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for w in &mut windows {
            w.saw(true, Instant::now(), &history);
        }
    })
}

/// An observed window: open from the first slow probe to the next fast one.
struct Window {
    kind: &'static str,
    target: String,
    since: Option<Instant>,
}

impl Window {
    fn new(kind: &'static str, target: String) -> Window {
        Window {
            kind,
            target,
            since: None,
        }
    }

    fn saw(&mut self, fast: bool, at: Instant, history: &History) {
        match (fast, self.since) {
            (false, None) => self.since = Some(at),
            (true, Some(since)) => {
                history.fault(self.kind, &self.target, since);
                self.since = None;
            }
            _ => {}
        }
    }
}

/// A new connection, and one write committed on it (to a table of its own in the `postgres`
/// database, so that the commit waits for the synchronous standby as the processes' do).
async fn probe(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let server = url.rsplit_once('/').map_or(url, |(server, _)| server);
    let mut connection = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
    for sql in [
        "CREATE TABLE IF NOT EXISTS h2s_chaos_probe (at TIMESTAMPTZ NOT NULL)",
        "INSERT INTO h2s_chaos_probe VALUES (now())",
    ] {
        sqlx::query(sql).execute(&mut connection).await?;
    }
    let _ = connection.close().await;
    Ok(())
}
