//! What every process reads, the first sections of each tree: the database, Stripe and
//! logging.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;
use sqlx::postgres::PgSslMode;

use crate::secrets::{SecretFileError, fill_from_file, read_secret_file};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/h2s_dispatch";

// Secret-bearing settings carry `hide_env_values` (so `--help` never prints what the
// environment holds), are `SecretString` (so `Debug` prints `[REDACTED]`), and have a `*_FILE`
// twin that clap keeps mutually exclusive with them.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Postgres URL (its password is a secret: see DATABASE_URL_FILE); migrated at start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: SecretString,
    /// File holding the Postgres URL (instead of DATABASE_URL).
    #[arg(long, env = "DATABASE_URL_FILE", conflicts_with = "database_url")]
    pub database_url_file: Option<PathBuf>,
    /// TLS to Postgres: disable, prefer, require, verify-ca or verify-full (overrides the
    /// URL's `sslmode`). Unset: the URL's, else plain on loopback and `prefer` elsewhere.
    #[arg(long, env = "DATABASE_SSLMODE")]
    pub database_sslmode: Option<PgSslMode>,
    /// CA certificate (PEM) that verifies the server for verify-ca/verify-full (overrides the
    /// URL's `sslrootcert`). Unset: the Mozilla root set compiled in.
    #[arg(long, env = "DATABASE_SSLROOTCERT")]
    pub database_sslrootcert: Option<PathBuf>,
    /// Create the database if it is missing (the role needs CREATEDB and access to the
    /// `postgres` database). Off: a missing database stops the process. Always on in `--dev`.
    #[arg(long)]
    pub create_database: bool,
    /// Connections in this process's pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// Longest wait for a pooled connection, opening one included, in milliseconds.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = 3_000)]
    pub database_acquire_timeout_ms: u64,
    /// `statement_timeout` of every session, in milliseconds (0: none).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT_MS", default_value_t = 10_000)]
    pub database_statement_timeout_ms: u64,
    /// `idle_in_transaction_session_timeout` of every session, in milliseconds (0: none).
    #[arg(
        long,
        env = "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub database_idle_in_transaction_timeout_ms: u64,
    /// The server's TCP keepalive idle time on each session, in seconds (probes a third of
    /// it apart, 3 of them, and tcp_user_timeout at the same total; 0: the server's own).
    #[arg(long, env = "DATABASE_KEEPALIVE_S", default_value_t = 30)]
    pub database_keepalive_s: u64,
}

impl DatabaseSettings {
    /// Reads `DATABASE_URL_FILE` if given.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        if let Some(path) = &self.database_url_file {
            self.database_url = read_secret_file(path, "DATABASE_URL_FILE")?;
        }
        Ok(())
    }

    /// What [`crate::db::connect`] needs, with this process's pool size.
    pub fn target(&self, max_connections: u32) -> crate::db::Target {
        crate::db::Target {
            url: self.database_url.clone(),
            ssl_mode: self.database_sslmode,
            ssl_root_cert: self.database_sslrootcert.clone(),
            create_if_missing: self.create_database,
            max_connections,
            bounds: self.bounds(),
        }
    }

    /// The timeouts and keepalives of every connection.
    pub fn bounds(&self) -> crate::db::Bounds {
        crate::db::Bounds {
            acquire: Duration::from_millis(self.database_acquire_timeout_ms),
            statement: Duration::from_millis(self.database_statement_timeout_ms),
            idle_in_transaction: Duration::from_millis(
                self.database_idle_in_transaction_timeout_ms,
            ),
            keepalive: Duration::from_secs(self.database_keepalive_s),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct StripeSettings {
    /// Stripe secret key (sk_...). Required outside `--dev`.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<SecretString>,
    /// File holding the Stripe secret key (instead of STRIPE_SECRET_KEY).
    #[arg(
        long,
        env = "STRIPE_SECRET_KEY_FILE",
        conflicts_with = "stripe_secret_key"
    )]
    pub stripe_secret_key_file: Option<PathBuf>,
    /// Stripe API base URL (scheme, host and port).
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,
    /// Per-attempt timeout of a Stripe call, in milliseconds.
    #[arg(long, env = "STRIPE_TIMEOUT_MS", default_value_t = 10_000)]
    pub stripe_timeout_ms: u64,
    /// Client-side cap on Stripe calls per second for this process.
    #[arg(long, env = "STRIPE_MAX_RPS", default_value_t = 80)]
    pub stripe_max_rps: u32,
}

impl StripeSettings {
    /// Reads `STRIPE_SECRET_KEY_FILE` if given.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        fill_from_file(
            &mut self.stripe_secret_key,
            &self.stripe_secret_key_file,
            "STRIPE_SECRET_KEY_FILE",
        )
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.stripe_timeout_ms)
    }

    /// The client settings for `key` (the configured one, or the dev sandbox's) at `api_base`.
    pub fn client_config(
        &self,
        key: SecretString,
        api_base: String,
    ) -> crate::stripe::StripeClientConfig {
        crate::stripe::StripeClientConfig {
            secret_key: key,
            api_base,
            timeout: self.timeout(),
            max_rps: Some(self.stripe_max_rps),
        }
    }

    /// The client settings when a secret key is configured.
    pub fn configured(&self) -> Option<crate::stripe::StripeClientConfig> {
        let key = self.stripe_secret_key.clone()?;
        Some(self.client_config(key, self.stripe_api_base.clone()))
    }
}

/// A required setting that is missing: the process stops with one line naming it.
pub fn require<'a, T>(value: &'a Option<T>, flag: &str, env: &str) -> anyhow::Result<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("missing required setting {flag} (env {env})"))
}

/// The outcome of `--log-json`.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log JSON lines instead of human-readable text.
    #[arg(long, env = "LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

/// What every process reads, the first sections of each tree: the database, Stripe and
/// logging.
#[derive(Debug, Clone, Args)]
pub struct ProcessSettings {
    #[command(flatten)]
    pub db: DatabaseSettings,
    #[command(flatten)]
    pub stripe: StripeSettings,
    #[command(flatten)]
    pub log: LogSettings,
}

impl ProcessSettings {
    /// Reads the `*_FILE` twins of the database's and Stripe's secrets.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        self.db.read_secret_files()?;
        self.stripe.read_secret_files()
    }
}
