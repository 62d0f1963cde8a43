//! A connection that cannot write is closed, never reused (issue 24).
//!
//! sqlx keeps a connection until it has idled 10 minutes or lived 30; after a failover a busy
//! pool would keep its connections to a node that refuses writes for that long. So every
//! process distrusts, at once, every connection it opened before a sign that the database
//! moved: a statement answered 25006 (read-only), a new connection or a readiness probe that
//! finds a node in recovery or read-only, a request or task that outlived its bound (the
//! network stalled). A distrusted connection is closed instead of being handed out
//! (`before_acquire`) or taken back (`after_release`: a stalled one is not pinged, which
//! could hang until the kernel gives up), and the pool opens fresh ones, which go wherever
//! the address now leads. The steady state pays no extra round trip: the check is one
//! atomic load per acquire and release; a new connection's one setup round trip carries both
//! the session's bounds and the read-only check ([`super::Bounds::session_setup_sql`]).
//!
//! The mark is per process, not per pool: a process serves one database, and a mark that
//! reaches another pool (tests run several in one process) only costs it reconnections.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{PgConnection, Row, pool::PoolConnectionMetadata, postgres::PgPoolOptions};

use super::Bounds;

/// Connections opened before this instant (nanoseconds since [`epoch`]) are distrusted.
static DISTRUST_BEFORE: AtomicU64 = AtomicU64::new(0);

/// A connection found read-only when it opens is distrusted too: sqlx stamps its opening
/// just after the setup returns, so the mark reaches this far ahead to cover it.
const OPENING_SLACK: Duration = Duration::from_millis(250);

/// A connection idle at least this long is pinged before it is handed out.
const PING_IDLE: Duration = Duration::from_secs(1);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// The mark's changes, for long-lived connections outside the pool's hands (the api's
/// `LISTEN` connection): it moves whenever connections are distrusted.
pub fn distrust_marks() -> tokio::sync::watch::Receiver<u64> {
    marks().subscribe()
}

fn marks() -> &'static tokio::sync::watch::Sender<u64> {
    static MARKS: OnceLock<tokio::sync::watch::Sender<u64>> = OnceLock::new();
    MARKS.get_or_init(|| tokio::sync::watch::Sender::new(0))
}

/// Times each [`Distrust`] reason distrusted the connections (read by the metrics).
static DISTRUSTED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Why connections were distrusted: the label of `h2s_db_connections_distrusted_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distrust {
    /// A statement was refused with 25006, or a node was found in recovery or read-only.
    ReadOnly,
    /// A request or task outlived its bound: its connection may sit on a stalled flow.
    Stalled,
}

impl Distrust {
    pub const ALL: [Distrust; 2] = [Distrust::ReadOnly, Distrust::Stalled];

    /// Times this process distrusted its connections for this reason.
    pub fn count(self) -> u64 {
        DISTRUSTED[self as usize].load(Ordering::Relaxed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Distrust::ReadOnly => "read_only",
            Distrust::Stalled => "stalled",
        }
    }
}

/// Every connection of this process opened until now is closed at its next acquire or
/// release instead of being reused.
pub fn distrust_open_connections(why: Distrust) {
    distrust_until(Instant::now(), why);
}

fn distrust_until(at: Instant, why: Distrust) {
    let mark = nanos(at).max(1);
    if DISTRUST_BEFORE.fetch_max(mark, Ordering::SeqCst) < mark {
        marks().send_replace(mark);
        DISTRUSTED[why as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a connection of this age was opened after the last mark.
fn trusted(meta: &PoolConnectionMetadata) -> bool {
    trusted_at_age(meta.age)
}

fn trusted_at_age(age: Duration) -> bool {
    let opened = Instant::now().checked_sub(age).map_or(0, nanos);
    opened >= DISTRUST_BEFORE.load(Ordering::SeqCst)
}

/// Whether the connection opened at `opened` (nanoseconds, from [`distrust_marks`]'s clock)
/// is distrusted now.
pub fn distrusted_since(opened: u64) -> bool {
    opened < DISTRUST_BEFORE.load(Ordering::SeqCst)
}

/// Now, on the marks' clock.
pub fn mark_clock() -> u64 {
    nanos(Instant::now())
}

/// The pool of every process: its bounds, the setup of each new connection, and the
/// distrust check on acquire and release.
pub(crate) fn pool_options(max_connections: u32, bounds: Bounds) -> PgPoolOptions {
    epoch();
    let setup = bounds.session_setup_sql();
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(bounds.acquire)
        // sqlx's own ping before each acquire, done in `before_acquire` instead, after the
        // distrust check, so that a distrusted (maybe stalled) connection is not pinged.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            let setup = setup.clone();
            Box::pin(async move { set_up(conn, setup).await })
        })
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                // A dead connection is dropped quietly, as sqlx's own test does (an error
                // here would be logged as a warning for every connection a restart killed).
                // Only one that sat idle is pinged: one back from use within `PING_IDLE`
                // answered then, and a ping on every acquire was one more round trip per
                // transaction (a third of a checkout's).
                Ok(trusted(&meta)
                    && (meta.idle_for < PING_IDLE || sqlx::Connection::ping(conn).await.is_ok()))
            })
        })
        .after_release(|_conn, meta| Box::pin(async move { Ok(trusted(&meta)) }))
}

/// The session's bounds and the read-only check, in one round trip.
async fn set_up(conn: &mut PgConnection, setup: String) -> Result<(), sqlx::Error> {
    let row = sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .fetch_one(&mut *conn)
        .await?;
    if row.try_get::<bool, _>(0)? {
        distrust_until(Instant::now() + OPENING_SLACK, Distrust::ReadOnly);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_a_distrust_are_refused_and_later_ones_kept() {
        epoch();
        std::thread::sleep(Duration::from_millis(20));
        let old = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        distrust_open_connections(Distrust::Stalled);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!trusted_at_age(old.elapsed()));
        assert!(trusted_at_age(Duration::ZERO));
        assert!(distrusted_since(nanos(old)));
        assert!(!distrusted_since(mark_clock()));
    }
}
