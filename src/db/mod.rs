//! Connecting to Postgres: the target database first (created only when allowed), TLS as
//! `sslmode` says, a check that no transaction-mode pooler sits in between, then migrations,
//! once per start.
//!
//! Managed Postgres (RDS, Cloud SQL, Supabase, Neon, ...) gives a role access to its own
//! database only, so nothing here touches the `postgres` maintenance database unless the
//! database is missing *and* the process may create it (`--create-database`, `--dev`).

mod bounds;
mod create;
mod error;
mod health;
mod outage;
mod pooler;
mod stmt;
mod target;

use anyhow::Context;
use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};

pub use bounds::Bounds;
use create::{create_database, is_missing_database};
use error::CONNECT_TIMEOUT;
pub use error::ConnectError;
pub use health::{
    Distrust, distrust_marks, distrust_open_connections, distrusted_since, mark_clock,
};
pub use outage::{Outage, outage, writable};
use pooler::refuse_transaction_pooler;
pub use stmt::Stmt;
pub use target::{Target, mask_url};

// Where tests and tools have always found it; it belongs to the migration runner.
pub use crate::migrate::MIGRATOR;

/// Connects to the target database (creating it first only when allowed), refuses a
/// transaction-mode pooler, and returns the pool. No migrations: see [`connect_target`].
pub async fn connect(target: &Target) -> Result<PgPool, ConnectError> {
    let url = target.masked_url();
    let options = target.options()?;
    let first = match open(&options, &url).await {
        Err(ConnectError::Unreachable { cause, .. }) if is_missing_database(&cause) => {
            let name = options.get_database().unwrap_or_default().to_owned();
            if !target.create_if_missing {
                return Err(ConnectError::Missing { name, url });
            }
            create_database(&options, &name)
                .await
                .map_err(|cause| ConnectError::Create {
                    name: name.clone(),
                    url: url.clone(),
                    cause,
                })?;
            open(&options, &url).await?
        }
        other => other?,
    };
    refuse_transaction_pooler(first, &options, &url).await?;
    let pool = health::pool_options(target.max_connections, target.bounds)
        .connect_with(options)
        .await
        .map_err(|cause| ConnectError::Unreachable {
            url: url.clone(),
            cause,
        })?;
    tracing::info!(database = %url, "connected to the database");
    Ok(pool)
}

/// [`connect`], then both migration sets: what every process does at start.
pub async fn connect_target(target: &Target) -> anyhow::Result<PgPool> {
    let pool = connect(target).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Connects to `url` (creating the database if missing) and migrates: for tests and tools.
/// Safe when several processes start at once: `CREATE DATABASE` races are absorbed and sqlx
/// serialises migrations with an advisory lock.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_target(&Target::from_url(url, max_connections)).await
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    // Both sets (the queue's and ours), every pending migration in one transaction.
    crate::migrate::apply(pool)
        .await
        .context("applying migrations")?
        .log();
    Ok(())
}

/// One connection, bounded in time, its failure named with the masked URL.
async fn open(options: &PgConnectOptions, url: &str) -> Result<PgConnection, ConnectError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(cause)) => Err(ConnectError::Unreachable {
            url: url.to_owned(),
            cause,
        }),
        Err(_) => Err(ConnectError::TimedOut {
            url: url.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
