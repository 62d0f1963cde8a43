//! Connecting to Postgres: the target database first (created only when allowed), TLS as
//! `sslmode` says, a check that no transaction-mode pooler sits in between, then migrations,
//! once per start.
//!
//! Managed Postgres (RDS, Cloud SQL, Supabase, Neon, ...) gives a role access to its own
//! database only, so nothing here touches the `postgres` maintenance database unless the
//! database is missing *and* the process may create it (`--create-database`, `--dev`).

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Connection, Executor, PgConnection, PgPool, Row,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

/// Migrations of h2s-dispatch (the `public` schema, `_sqlx_migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long one connection attempt (TCP, TLS, authentication) may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL with its password replaced by `***`, for messages and logs.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

/// Where and how a process connects (built by [`crate::config::DatabaseSettings::target`]).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: SecretString,
    /// Overrides the URL's `sslmode`.
    pub ssl_mode: Option<PgSslMode>,
    /// Overrides the URL's `sslrootcert`.
    pub ssl_root_cert: Option<PathBuf>,
    /// Create the database when it is missing (`--create-database`, `--dev`).
    pub create_if_missing: bool,
    pub max_connections: u32,
}

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

impl Target {
    /// A plain URL with default TLS handling; creates the database if missing (tests, tools).
    pub fn from_url(url: &str, max_connections: u32) -> Self {
        Target {
            url: SecretString::from(url.to_owned()),
            ssl_mode: None,
            ssl_root_cert: None,
            create_if_missing: true,
            max_connections,
        }
    }

    /// What logs and messages show.
    pub fn masked_url(&self) -> String {
        mask_url(self.url.expose_secret())
    }

    /// The connect options: the URL's, then the settings' `sslmode`/`sslrootcert` on top, then
    /// plain TCP on loopback when nobody asked for a mode (see [`is_loopback`]).
    pub fn options(&self) -> Result<PgConnectOptions, ConnectError> {
        let url = self.url.expose_secret();
        let mut options: PgConnectOptions = url.parse().map_err(|_| ConnectError::InvalidUrl {
            url: self.masked_url(),
        })?;
        if let Some(ca) = &self.ssl_root_cert {
            options = options.ssl_root_cert(ca);
        }
        match self.ssl_mode {
            Some(mode) => options = options.ssl_mode(mode),
            None if !url_sets_sslmode(url) && is_loopback(url) => {
                options = options.ssl_mode(PgSslMode::Disable)
            }
            None => {}
        }
        Ok(options)
    }
}

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
    let pool = PgPoolOptions::new()
        .max_connections(target.max_connections)
        .acquire_timeout(Duration::from_secs(3))
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

/// A URL that names its own `sslmode` (sqlx reads `sslmode` and `ssl-mode`).
fn url_sets_sslmode(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| {
        parsed
            .query_pairs()
            .any(|(k, _)| k == "sslmode" || k == "ssl-mode")
    })
}

/// On a loopback address TLS protects nothing, and negotiating it (sqlx's default `prefer`
/// with a server that has `ssl = on`) costs ~100 ms per connection here, which every pool
/// refill, listener reconnect and reconciler sweep would pay. So a loopback URL that does not
/// ask for an `sslmode` connects without TLS; any other URL keeps sqlx's default (`prefer`).
fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        // A `postgres:` URL is not a "special" scheme, so its IP hosts come back as text.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
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

/// 3D000 `invalid_catalog_name`: the server is there, the database is not.
fn is_missing_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000"))
}

/// `CREATE DATABASE` from the `postgres` maintenance database: the only place that touches it.
async fn create_database(options: &PgConnectOptions, name: &str) -> Result<(), sqlx::Error> {
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
async fn refuse_transaction_pooler(
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

#[cfg(test)]
mod tests {
    use sqlx::postgres::PgSslMode;

    use super::{Target, mask_url};

    fn mode(url: &str) -> PgSslMode {
        Target::from_url(url, 1).options().unwrap().get_ssl_mode()
    }

    #[test]
    fn loopback_urls_skip_tls_unless_they_ask_for_it() {
        assert!(matches!(
            mode("postgres://u@127.0.0.1:5432/d"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@localhost/d"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@[::1]:5432/d"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@127.0.0.1/d?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            mode("postgres://u@db.internal/d"),
            PgSslMode::Prefer
        ));
    }

    #[test]
    fn the_settings_sslmode_wins_over_the_url_and_over_loopback() {
        let mut target = Target::from_url("postgres://u@127.0.0.1/d", 1);
        target.ssl_mode = Some(PgSslMode::VerifyFull);
        assert!(matches!(
            target.options().unwrap().get_ssl_mode(),
            PgSslMode::VerifyFull
        ));
        let mut target = Target::from_url("postgres://u@db.internal/d?sslmode=require", 1);
        target.ssl_mode = Some(PgSslMode::Disable);
        assert!(matches!(
            target.options().unwrap().get_ssl_mode(),
            PgSslMode::Disable
        ));
    }

    #[test]
    fn passwords_are_masked() {
        let masked = mask_url("postgres://u:secret@db.internal:5432/d");
        assert!(!masked.contains("secret"));
        assert!(masked.contains("db.internal:5432"));
    }

    #[test]
    fn the_target_debug_print_hides_the_url() {
        let target = Target::from_url("postgres://u:hunter2@db.internal/d", 1);
        let printed = format!("{target:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        let e = Target::from_url("postgres://u:hunter2@db.internal:notaport/d", 1)
            .options()
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
