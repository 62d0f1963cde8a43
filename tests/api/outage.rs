//! The database outage classifier against a real server: a write refused as read-only (what a
//! standby after a failover answers, SQLSTATE 25006) is an outage for the API (503) and for
//! the worker (a retry never counted towards the task's death), and the probes' `writable`
//! tells it; an error of the statement itself is neither.

use h2s_dispatch::{
    db::{self, Outage},
    http::ApiError,
    outbox::TaskError,
    reconcile::{self, SweepOptions},
};
use sqlx::{Connection, Executor, postgres::PgPoolOptions};

use crate::test_db::TestDatabase;

/// What `sql` fails with, run in a transaction that is read-only when `read_only`.
async fn failure(pool: &sqlx::PgPool, read_only: bool, sql: &'static str) -> sqlx::Error {
    let mut tx = pool.begin().await.expect("a transaction");
    if read_only {
        tx.execute("SET TRANSACTION READ ONLY").await.unwrap();
    }
    tx.execute(sql).await.expect_err("the statement fails")
}

#[tokio::test]
async fn a_write_refused_as_read_only_is_an_outage_everywhere_and_a_statement_error_is_not() {
    let db = TestDatabase::migrated(2).await;

    let read_only = failure(&db.pool, true, "DELETE FROM h2s_orders").await;
    assert_eq!(
        db::outage(&read_only),
        Some(Outage::ReadOnly),
        "{read_only}"
    );
    assert_eq!(
        ApiError::from(failure(&db.pool, true, "DELETE FROM h2s_orders").await).status(),
        503
    );
    assert!(matches!(
        TaskError::from(read_only),
        TaskError::Outage { .. }
    ));

    let bad_statement = failure(&db.pool, false, "SELECT 1 / 0").await;
    assert_eq!(db::outage(&bad_statement), None, "{bad_statement}");
    assert_eq!(
        ApiError::from(failure(&db.pool, false, "SELECT 1 / 0").await).status(),
        500
    );
    assert!(matches!(
        TaskError::from(bad_statement),
        TaskError::Retryable { .. }
    ));
}

#[tokio::test]
async fn writable_is_false_where_new_transactions_are_read_only() {
    let db = TestDatabase::migrated(2).await;
    assert!(db::writable(&db.pool).await.unwrap());
    let read_only = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET default_transaction_read_only = on")
                    .await?;
                Ok(())
            })
        })
        .connect(&db.url)
        .await
        .unwrap();
    assert!(!db::writable(&read_only).await.unwrap());
    read_only.close().await;
}

/// The pool's connection left on a node that refuses writes (as one opened on a standby, or
/// kept across a failover) is closed once it has refused one: the next statement runs on a
/// fresh connection and writes, with no restart (issue 24).
#[tokio::test]
async fn a_connection_that_refused_a_write_is_closed_and_the_next_one_writes() {
    let db = TestDatabase::migrated(1).await;
    let mut conn = db.pool.acquire().await.expect("a connection");
    conn.execute("SET default_transaction_read_only = on")
        .await
        .unwrap();
    let stale: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let write = "CREATE TABLE h2s_outage_probe (x int)";
    let refused = db.pool.execute(write).await.expect_err("refused");
    assert_eq!(db::outage(&refused), Some(Outage::ReadOnly), "{refused}");
    let next: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_ne!(next, stale, "the read-only connection was not reused");
    db.pool
        .execute(write)
        .await
        .expect("the write goes through");
}

/// A statement the server cut at `statement_timeout` (a stalled peer holding a lock, an
/// overloaded server) is an outage, answered 503, not an internal error.
#[tokio::test]
async fn a_statement_cut_by_the_statement_timeout_is_an_outage() {
    let db = TestDatabase::migrated(1).await;
    let mut tx = db.pool.begin().await.expect("a transaction");
    tx.execute("SET LOCAL statement_timeout = 50")
        .await
        .unwrap();
    let cut = tx
        .execute("SELECT pg_sleep(2)")
        .await
        .expect_err("cut by the timeout");
    assert_eq!(db::outage(&cut), Some(Outage::TimedOut), "{cut}");
    assert_eq!(ApiError::from(cut).status(), 503);
}

/// The reconciler takes its lock only on a node that takes writes: on a read-only one the
/// sweep does not run (and says why) rather than "hold" a lock that keeps no writer out; on
/// the writable node it runs.
#[tokio::test]
async fn a_sweep_on_a_read_only_node_does_not_run_and_one_on_the_writable_node_does() {
    let db = TestDatabase::migrated(1).await;
    let server = crate::test_db::server();
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("an admin connection");
    let set = |on: bool| {
        let value = if on {
            "SET default_transaction_read_only = on"
        } else {
            "RESET default_transaction_read_only"
        };
        sqlx::AssertSqlSafe(format!(r#"ALTER DATABASE "{}" {value}"#, db.name))
    };
    admin.execute(set(true)).await.unwrap();
    let read_only = db::connect(&db::Target::from_url(&db.url, 1))
        .await
        .unwrap();
    let refused = reconcile::sweep_without_stripe(&read_only, &SweepOptions::default()).await;
    read_only.close().await;
    admin.execute(set(false)).await.unwrap();
    let writable = db::connect(&db::Target::from_url(&db.url, 1))
        .await
        .unwrap();
    let swept = reconcile::sweep_without_stripe(&writable, &SweepOptions::default()).await;
    writable.close().await;

    assert!(
        matches!(refused, Err(reconcile::SweepError::ReadOnly)),
        "{:?}",
        refused.err().map(|e| e.to_string())
    );
    assert!(swept.is_ok_and(|report| !report.skipped));
}
