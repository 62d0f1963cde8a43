//! Why a process could not connect, one line each, the password masked.

use std::time::Duration;

/// How long one connection attempt (TCP, TLS, authentication) may take at start.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a process could not connect: each is one line naming the URL with its password masked.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid database URL {url}")]
    InvalidUrl { url: String },
    #[error(
        "database {name:?} does not exist at {url}: create it (see README, Deploying), \
         or start with --create-database if this role may create databases"
    )]
    Missing { name: String, url: String },
    // The cause is in the line and deliberately not a `source`: the binaries print the whole
    // chain, and sqlx's errors already repeat their own cause in their text.
    #[error(
        "cannot create database {name:?} at {url} (needs CREATEDB and access to the \
         `postgres` database): {cause}"
    )]
    Create {
        name: String,
        url: String,
        cause: sqlx::Error,
    },
    #[error("cannot connect to the database at {url}: {cause}")]
    Unreachable { url: String, cause: sqlx::Error },
    #[error("cannot connect to the database at {url}: no answer within {}s", CONNECT_TIMEOUT.as_secs())]
    TimedOut { url: String },
    #[error(
        "the database URL {url} goes through a connection pooler in transaction or statement \
         mode (one client session was served by two server sessions): h2s-dispatch needs a \
         direct or session-mode connection (LISTEN/NOTIFY, session advisory locks, prepared \
         statements)"
    )]
    TransactionPooler { url: String },
}
