//! Waking the workers after a commit instead of inside it, for the api's hot paths.
//!
//! A transaction that calls `pg_notify` holds a cluster-wide lock through its commit's WAL
//! flush, so the checkouts' commits could not be grouped (BENCHMARKS.md: the checkout's two
//! INSERTs, 4 clients, 1,324 tx/s with the insert trigger's NOTIFY, 3,802 without). So the
//! api's checkout and webhook begin their transactions through [`Commits`], which marks them
//! quiet and, once the commit has returned, calls [`Waker::wake`]: one task per
//! process sends `NOTIFY` on a statement of its own (no transaction id, nothing to flush), at
//! once if it is idle, else once more right after the one in flight, which covers every
//! commit made before it is sent. The fallback poll covers a process that dies between its
//! commit and the notification.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;

// A quiet transaction is one whose transaction-local setting `h2s.wake_after_commit` is on:
// the insert trigger (migration `20261207200000_notify_per_statement`) and
// [`notify_unless_quiet`] send no `NOTIFY` in it. The name is spelled in this file only.

/// The `BEGIN` of a quiet transaction: marked in the same round trip.
const QUIET_BEGIN: &str = "BEGIN; SELECT set_config('h2s.wake_after_commit', 'on', true)";

/// The same mark for a statement that is its own transaction: a CTE it reads from (one row),
/// so that the mark is set before it writes; `$n` is `on` (quiet) or empty (not).
const QUIET_CTE: &str = "quiet AS (SELECT set_config('h2s.wake_after_commit', $n, true) AS mark)";

/// `pg_notify`, unless the transaction is quiet.
const NOTIFY_UNLESS_QUIET: &str = "SELECT pg_notify($1, $2) \
    WHERE NOT coalesce(current_setting('h2s.wake_after_commit', true), '') = 'on'";

/// Sends `NOTIFY channel, payload` inside `tx`, unless `tx` is quiet: then its [`Commits`]
/// wake the listener after the commit instead.
pub async fn notify_unless_quiet(
    tx: &mut Transaction<'_, Postgres>,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(NOTIFY_UNLESS_QUIET)
        .bind(channel)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// THE owner of "commit quietly, then wake": where this process's transactions begin. A
/// quiet one ([`Commits::quiet`]) is marked at its `BEGIN`, so nothing in it sends `NOTIFY`
/// (which would hold a cluster-wide lock through its commit's WAL flush), and once
/// [`Tx::commit`] has returned it wakes every listener it was given (the workers, the event
/// feed's delivery loop). A caller only begins and commits: it never wakes anything itself.
#[derive(Clone)]
pub struct Commits {
    pool: PgPool,
    /// `None`: plain transactions, whose inserts notify as they go.
    quiet: Option<Arc<[Waker]>>,
}

impl Commits {
    /// Plain transactions: the insert trigger and the feed notify inside them.
    pub fn notifying(pool: PgPool) -> Self {
        Commits { pool, quiet: None }
    }

    /// Quiet transactions that wake `wakers` after each commit.
    pub fn quiet(pool: PgPool, wakers: Vec<Waker>) -> Self {
        Commits {
            pool,
            quiet: Some(wakers.into()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The CTE `quiet` that a statement standing as its own transaction starts with and reads
    /// from (a CTE nothing reads is not run), its parameter `$param` bound to
    /// [`Commits::quiet_value`]. Once the statement has returned, [`Commits::committed`]
    /// wakes as [`Tx::commit`] does.
    pub fn quiet_cte(param: usize) -> String {
        QUIET_CTE.replace("$n", &format!("${param}"))
    }

    /// What [`Commits::quiet_cte`]'s parameter is bound to: quiet when these commits are.
    pub fn quiet_value(&self) -> &'static str {
        if self.quiet.is_some() { "on" } else { "" }
    }

    /// After a statement that was its own transaction (begun with [`Commits::quiet_cte`])
    /// has returned: wakes the listeners of quiet commits.
    pub fn committed(&self) {
        wake_all(&self.quiet);
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let tx = match &self.quiet {
            Some(_) => self.pool.begin_with(QUIET_BEGIN).await?,
            None => self.pool.begin().await?,
        };
        Ok(Tx {
            tx,
            wakers: self.quiet.clone(),
        })
    }
}

/// A transaction of [`Commits`]: a `Transaction` (through `Deref`) that wakes after its
/// commit.
pub struct Tx {
    tx: Transaction<'static, Postgres>,
    wakers: Option<Arc<[Waker]>>,
}

impl Tx {
    /// Commits, then wakes the listeners of a quiet transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        wake_all(&self.wakers);
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

fn wake_all(wakers: &Option<Arc<[Waker]>>) {
    for waker in wakers.iter().flat_map(|w| w.iter()) {
        waker.wake();
    }
}

impl std::ops::Deref for Tx {
    type Target = Transaction<'static, Postgres>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Cheap to clone; one sending task per `Waker::start`.
#[derive(Clone)]
pub struct Waker {
    inner: Arc<Inner>,
}

struct Inner {
    pending: AtomicBool,
    signal: Arc<Notify>,
}

impl Waker {
    /// Starts the task that sends `queue`'s notifications on `pool`; it ends with the last
    /// clone.
    pub fn start(pool: PgPool, queue: &'static str) -> Self {
        let payload = serde_json::json!({ "job_type": queue }).to_string();
        Self::on_channel(pool, super::listen::CHANNEL, payload)
    }

    /// The same for another listener: `NOTIFY channel, payload` after the commits it is told
    /// of (the event feed's delivery loop, whose events a quiet transaction recorded).
    pub fn on_channel(pool: PgPool, channel: &'static str, payload: String) -> Self {
        Self::on_channel_when(pool, channel, payload, "true")
    }

    /// The same, sent only when `when` (an SQL condition, read at the notification's time,
    /// after the commits it covers) holds: a listener that would find nothing to do is not
    /// woken (the event feed's delivery loop while no endpoint is enabled).
    pub fn on_channel_when(
        pool: PgPool,
        channel: &'static str,
        payload: String,
        when: &'static str,
    ) -> Self {
        let inner = Arc::new(Inner {
            pending: AtomicBool::new(false),
            signal: Arc::default(),
        });
        let notify = format!("SELECT pg_notify($1, $2) WHERE {when}");
        tokio::spawn(send(pool, channel, payload, notify, Arc::downgrade(&inner)));
        Waker { inner }
    }

    /// After a commit that wrote outbox rows quietly: the workers will hear of them.
    pub fn wake(&self) {
        self.inner.pending.store(true, Ordering::Release);
        self.inner.signal.notify_one();
    }
}

async fn send(
    pool: PgPool,
    channel: &'static str,
    payload: String,
    notify_sql: String,
    inner: std::sync::Weak<Inner>,
) {
    // A connection of its own, kept between notifications: one `NOTIFY` per commit at low
    // load, and taking a pooled connection each time cost more CPU than the statement.
    let mut conn: Option<sqlx::pool::PoolConnection<Postgres>> = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let signal = strong.signal.clone();
        let signalled = signal.notified();
        if !strong.pending.swap(false, Ordering::AcqRel) {
            drop(strong);
            // The last `Waker` may go while this waits: look again now and then.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), signalled).await;
            continue;
        }
        drop(strong);
        // A kept connection may have died since (a restart, a failover, an idle timeout):
        // then once more on a fresh one.
        let kept = conn.is_some();
        let mut sent = notify(&pool, &mut conn, &notify_sql, channel, &payload).await;
        if sent.is_err() && kept {
            sent = notify(&pool, &mut conn, &notify_sql, channel, &payload).await;
        }
        if let Err(e) = sent {
            // The workers' fallback poll finds the rows.
            tracing::warn!(error = %e, "could not wake the workers after a commit");
        }
    }
}

/// How long one `NOTIFY` may take before its connection is given up (a stalled one).
const NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `sql` (`NOTIFY channel, payload`, perhaps under a condition) on the kept connection (taken from the pool when there is
/// none); a connection that failed or stalled is dropped.
async fn notify(
    pool: &PgPool,
    conn: &mut Option<sqlx::pool::PoolConnection<Postgres>>,
    sql: &str,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    let sent = tokio::time::timeout(NOTIFY_TIMEOUT, async {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(pool.acquire().await?),
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(channel)
            .bind(payload)
            .execute(&mut **c)
            .await
            .map(drop)
    })
    .await
    .unwrap_or_else(|_| Err(sqlx::Error::Io(std::io::ErrorKind::TimedOut.into())));
    if sent.is_err() {
        *conn = None;
    }
    sent
}

#[cfg(test)]
mod tests {
    /// The setting a quiet `BEGIN` turns on is the one the feed's notification and the
    /// insert trigger read.
    #[test]
    fn the_quiet_begin_sets_what_the_notifications_read() {
        let set = super::QUIET_BEGIN
            .split('\'')
            .nth(1)
            .expect("a quoted setting name");
        assert!(super::NOTIFY_UNLESS_QUIET.contains(&format!("current_setting('{set}', true)")));
        assert!(super::QUIET_CTE.contains(&format!("set_config('{set}', $n, true)")));
        let trigger = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .contains("notify_per_statement")
            })
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect::<String>();
        assert!(trigger.contains(set), "the trigger reads another setting");
    }
}
