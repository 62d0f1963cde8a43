//! Creating a missing database: the only place that touches the `postgres` maintenance
//! database, and only when the process may (`--create-database`, `--dev`).

use sqlx::{Connection, Executor, PgConnection, postgres::PgConnectOptions};

use super::error::CONNECT_TIMEOUT;

/// 3D000 `invalid_catalog_name`: the server is there, the database is not.
pub(crate) fn is_missing_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000"))
}

/// `CREATE DATABASE` from the `postgres` maintenance database: the only place that touches it.
pub(crate) async fn create_database(
    options: &PgConnectOptions,
    name: &str,
) -> Result<(), sqlx::Error> {
    let maintenance = options.clone().database("postgres");
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&maintenance))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let create = format!("CREATE DATABASE {quoted}");
    match conn.execute(sqlx::AssertSqlSafe(create)).await {
        Ok(_) => tracing::info!(database = %name, "created database"),
        // 42P04 duplicate_database, 23505: another process created it at the same moment.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
        Err(e) => return Err(e),
    }
    conn.close().await.ok();
    Ok(())
}
