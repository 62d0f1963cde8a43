//! Waking the workers after a commit instead of inside it, for the api's hot paths.
//!
//! A transaction that calls `pg_notify` holds a cluster-wide lock through its commit's WAL
//! flush, so the checkouts' commits could not be grouped (BENCHMARKS.md: the checkout's two
//! INSERTs, 4 clients, 1,324 tx/s with the insert trigger's NOTIFY, 3,802 without). So the
//! api's checkout and webhook (`outbox::enqueue_then_wake`) ask the trigger to stay silent in their transaction
//! ([`QUIET_SQL`]), and once the commit has returned they call [`Waker::wake`]: one task per
//! process sends `NOTIFY` on a statement of its own (no transaction id, nothing to flush), at
//! once if it is idle, else once more right after the one in flight, which covers every
//! commit made before it is sent. The fallback poll covers a process that dies between its
//! commit and the notification.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use sqlx::PgPool;
use tokio::sync::Notify;

/// Makes the insert trigger (migration `20261207200000_notify_per_statement`) stay silent until the transaction ends. The caller
/// must [`Waker::wake`] after its commit.
pub const QUIET_SQL: &str = "SELECT set_config('h2s.wake_after_commit', 'on', true)";

/// True in a transaction that ran [`QUIET_SQL`]: an SQL condition for other notifications
/// that the caller's [`Waker`]s send after the commit instead.
pub const IS_QUIET_SQL: &str =
    "coalesce(current_setting('h2s.wake_after_commit', true), '') = 'on'";

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
        let inner = Arc::new(Inner {
            pending: AtomicBool::new(false),
            signal: Arc::default(),
        });
        tokio::spawn(send(pool, channel, payload, Arc::downgrade(&inner)));
        Waker { inner }
    }

    /// After a commit that wrote outbox rows quietly: the workers will hear of them.
    pub fn wake(&self) {
        self.inner.pending.store(true, Ordering::Release);
        self.inner.signal.notify_one();
    }
}

async fn send(pool: PgPool, channel: &'static str, payload: String, inner: std::sync::Weak<Inner>) {
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
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(&payload)
            .execute(&pool)
            .await
        {
            // The workers' fallback poll finds the rows.
            tracing::warn!(error = %e, "could not wake the workers after a commit");
        }
    }
}
