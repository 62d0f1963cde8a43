//! Refusing a connection pooler in transaction mode (the README's "Managed Postgres
//! checklist" says what to use instead).

use sqlx::{Connection, PgConnection, Row, postgres::PgConnectOptions};

use super::error::{CONNECT_TIMEOUT, ConnectError};

/// Refuses a pooler in transaction (or statement) mode: it hands each transaction of a client
/// session to whichever server session is free, which silently breaks what the processes
/// rely on (the api's `LISTEN` would hear nothing and every checkout would wait its full
/// budget; the sweep's session advisory lock would guard nothing; prepared statements fail
/// with "prepared statement ... does not exist").
///
/// The probe: session A reads its backend pid; session B opens a transaction (a pooler reuses
/// the server session A just released, most recently used first, as PgBouncer does) and
/// reads its pid; A reads its pid again. Directly or through a session-mode pool, A keeps its
/// backend and B has another. Through a transaction-mode pool B got A's backend, or A moved.
/// Simple-protocol queries only, so that the probe itself does not trip on prepared
/// statements. Bounded by [`CONNECT_TIMEOUT`]: a failure is one line at start, never a hang.
pub(crate) async fn refuse_transaction_pooler(
    mut a: PgConnection,
    options: &PgConnectOptions,
    url: &str,
) -> Result<(), ConnectError> {
    let probe = async {
        let a_first = backend_pid(&mut a).await?;
        let mut b = PgConnection::connect_with(options).await?;
        sqlx::raw_sql("BEGIN").execute(&mut b).await?;
        let b_pid = backend_pid(&mut b).await?;
        let a_again = backend_pid(&mut a).await?;
        sqlx::raw_sql("ROLLBACK").execute(&mut b).await?;
        b.close().await.ok();
        a.close().await.ok();
        Ok::<bool, sqlx::Error>(b_pid == a_first || a_again != a_first)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, probe).await {
        Ok(Ok(false)) => Ok(()),
        Ok(Ok(true)) => Err(ConnectError::TransactionPooler {
            url: url.to_owned(),
        }),
        Ok(Err(cause)) => Err(ConnectError::Unreachable {
            url: url.to_owned(),
            cause,
        }),
        Err(_) => Err(ConnectError::TimedOut {
            url: url.to_owned(),
        }),
    }
}

async fn backend_pid(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
    let row = sqlx::raw_sql("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await?;
    row.try_get(0)
}
