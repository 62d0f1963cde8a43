//! One sweep at a time across all replicas: a session-level Postgres advisory lock, held on a
//! connection of its own for the whole sweep.
//!
//! Why not a pooled connection: a session lock lives as long as its connection, and a pooled
//! connection goes back to the pool, lock and all, when a sweep is dropped half-way (a
//! shutdown, a panic). The sweep detaches one from the pool instead and closes it after, and Postgres releases the lock the
//! moment the session ends, crash included. Why not a transaction-level lock: it would keep
//! a transaction open for the whole sweep (minutes of Stripe calls), which
//! `idle_in_transaction_session_timeout` may kill and which pins the connection in a
//! transaction-pooling proxy just the same.
//!
//! The lock is not what keeps repairs correct: every repair is idempotent under row locks
//! (`dispatch::ensure_job` locks the order, `transition::apply` too, `outbox::enqueue` is
//! `ON CONFLICT`), so two sweeps that did overlap (say the lock's connection died mid-sweep)
//! would still make one job per order. The lock keeps sweeps from doing the same work twice
//! and keeps their reports adding up.
//!
//! Clock skew: replicas on the same schedule but skewed clocks fire the "same" tick at
//! different moments: whoever comes first sweeps; the other either finds the lock held
//! (skipped) or, if the first already finished, sweeps again right after and finds (almost)
//! nothing to do. Ages (`stale_after`, `retention`, ...) are measured with the database's
//! `now()`, so the reconciler's own clock never decides what is stale. (A per-tick claim row
//! would instead key on the tick as each replica computes it: skew beyond the sweep interval
//! would let two replicas claim different ticks and overlap.)
//!
//! Note: a session lock needs a real session. Behind PgBouncer in transaction mode, point the
//! reconciler at Postgres directly (or at a session-mode pool).

use sqlx::{Connection, PgConnection, PgPool};

/// The advisory lock key: the ASCII of `h2s_reco`. Advisory locks are per database, so
/// several databases on one server do not contend.
pub const SWEEP_LOCK_KEY: i64 = 0x6832_735f_7265_636f;

/// What [`SweepLock::try_acquire`] found.
pub enum Attempt {
    Held(SweepLock),
    /// Another sweep holds the lock.
    Taken,
    /// The connection is on a node that takes no writes (a standby, a stale address after a
    /// failover): holding the lock there would keep no writer out, and the sweep could repair
    /// nothing. The process's connections are distrusted, so the next sweep connects afresh.
    ReadOnly,
}

/// The held lock. [`SweepLock::release`] unlocks and closes; dropping it closes the
/// connection, which releases the lock server-side all the same.
pub struct SweepLock {
    conn: PgConnection,
}

impl SweepLock {
    /// The lock, unless another sweep holds it or the node takes no writes. Never waits.
    pub async fn try_acquire(pool: &PgPool) -> Result<Attempt, sqlx::Error> {
        // An open connection taken out of the pool for good (no connect on the sweep's
        // path); it is closed, never returned, when the sweep ends. The lock is only tried
        // on a writable node (NULL otherwise), in the same round trip.
        let mut conn = pool.acquire().await?.detach();
        let acquired: Option<bool> = sqlx::query_scalar(
            r#"
            SELECT CASE WHEN pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
                        THEN NULL ELSE pg_try_advisory_lock($1) END
            "#,
        )
        .bind(SWEEP_LOCK_KEY)
        .fetch_one(&mut conn)
        .await?;
        match acquired {
            Some(true) => Ok(Attempt::Held(SweepLock { conn })),
            Some(false) => {
                conn.close().await.ok();
                Ok(Attempt::Taken)
            }
            None => {
                conn.close().await.ok();
                crate::db::distrust_open_connections(crate::db::Distrust::ReadOnly);
                Ok(Attempt::ReadOnly)
            }
        }
    }
    pub async fn release(mut self) {
        let unlocked = sqlx::query_scalar::<_, bool>(r#"SELECT pg_advisory_unlock($1)"#)
            .bind(SWEEP_LOCK_KEY)
            .fetch_one(&mut self.conn)
            .await;
        if let Err(e) = unlocked {
            tracing::warn!(error = %e, "could not unlock the sweep lock; closing its connection");
        }
        self.conn.close().await.ok();
    }
}
