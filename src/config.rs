//! Settings of the three processes: clap flags with environment fallbacks, parsed once.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;
use sqlx::postgres::PgSslMode;

use crate::secrets::{SecretFileError, fill_from_file, read_secret_file};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/h2s_dispatch";

// The worker's defaults, in one place: the flags below, the reconciler's
// `--task-max-retries` and `RuntimeConfig::new` all read these.
/// `WORKER_CONCURRENCY`: outbox tasks in flight per worker process.
pub const DEFAULT_WORKER_CONCURRENCY: usize = 16;
/// `WORKER_MAX_RETRIES`: retries of a failing outbox task before it is dead.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// `WORKER_RETRY_BASE_MS`: the first retry delay.
pub const DEFAULT_RETRY_BASE_MS: u64 = 250;
/// `WORKER_RETRY_CAP_MS`: the longest retry delay.
pub const DEFAULT_RETRY_CAP_MS: u64 = 60_000;
/// `WORKER_POLL_INTERVAL_MS`: the fallback poll of the outbox.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 100;

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

#[derive(Debug, Clone, Args)]
pub struct WorkerSettings {
    /// Outbox tasks processed at once by this process.
    #[arg(long = "concurrency", env = "WORKER_CONCURRENCY", default_value_t = DEFAULT_WORKER_CONCURRENCY)]
    pub concurrency: usize,
    /// Retries of a failing outbox task before it is parked as dead.
    #[arg(long, env = "WORKER_MAX_RETRIES", default_value_t = DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    #[arg(long, env = "WORKER_RETRY_BASE_MS", default_value_t = DEFAULT_RETRY_BASE_MS)]
    pub retry_base_ms: u64,
    /// Upper bound of one retry delay in milliseconds.
    #[arg(long, env = "WORKER_RETRY_CAP_MS", default_value_t = DEFAULT_RETRY_CAP_MS)]
    pub retry_cap_ms: u64,
    /// Management notification endpoint (Slack-compatible; a secret URL). Unset:
    /// notifications are logged.
    #[arg(long, env = "NOTIFY_WEBHOOK_URL", hide_env_values = true)]
    pub notify_webhook_url: Option<SecretString>,
    /// File holding the notification URL (instead of NOTIFY_WEBHOOK_URL).
    #[arg(
        long,
        env = "NOTIFY_WEBHOOK_URL_FILE",
        conflicts_with = "notify_webhook_url"
    )]
    pub notify_webhook_url_file: Option<PathBuf>,
    /// Fallback poll of the outbox, in milliseconds (tasks are normally picked up at once by
    /// LISTEN/NOTIFY; the poll bounds the delay when a notification is missed).
    #[arg(long, env = "WORKER_POLL_INTERVAL_MS", default_value_t = DEFAULT_POLL_INTERVAL_MS)]
    pub poll_interval_ms: u64,
    /// Serve this process's `/metrics` (task attempts, Stripe calls, and the database
    /// gauges), `/healthz` and `/readyz` (for probes) on this address (the deployment files
    /// use 9090).
    #[arg(long, env = "WORKER_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Args)]
pub struct ApiSettings {
    /// Address the HTTP API listens on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Secret that signs Stripe webhooks (whsec_...). Required outside `--dev`.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<SecretString>,
    /// File holding the webhook signing secret (instead of STRIPE_WEBHOOK_SECRET).
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET_FILE",
        conflicts_with = "stripe_webhook_secret"
    )]
    pub stripe_webhook_secret_file: Option<PathBuf>,
    /// Bearer token of the admin routes; unset: admin routes answer 401.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<SecretString>,
    /// File holding the admin token (instead of ADMIN_TOKEN).
    #[arg(long, env = "ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    pub admin_token_file: Option<PathBuf>,
    /// How long `POST /api/shop` waits for the worker before answering 202, in milliseconds.
    #[arg(long, env = "CHECKOUT_WAIT_MS", default_value_t = 3_000)]
    pub checkout_wait_ms: u64,
    /// Longest time one HTTP request may take before it is answered 503 `timeout`, in
    /// milliseconds; must exceed CHECKOUT_WAIT_MS.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
}

impl ApiSettings {
    /// Reads `STRIPE_WEBHOOK_SECRET_FILE` and `ADMIN_TOKEN_FILE` if given.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        fill_from_file(
            &mut self.stripe_webhook_secret,
            &self.stripe_webhook_secret_file,
            "STRIPE_WEBHOOK_SECRET_FILE",
        )?;
        fill_from_file(
            &mut self.admin_token,
            &self.admin_token_file,
            "ADMIN_TOKEN_FILE",
        )
    }

    pub fn checkout_wait(&self) -> Duration {
        Duration::from_millis(self.checkout_wait_ms)
    }

    /// The request timeout, checked against the checkout wait: a timeout shorter than the
    /// wait would cut every slow checkout into an error instead of its 202.
    pub fn request_timeout(&self) -> anyhow::Result<Duration> {
        let timeout = Duration::from_millis(self.request_timeout_ms);
        if timeout < self.checkout_wait() + Duration::from_secs(1) {
            anyhow::bail!(
                "--request-timeout-ms (env REQUEST_TIMEOUT_MS) {} must exceed --checkout-wait-ms \
                 (env CHECKOUT_WAIT_MS) {} by at least 1000",
                self.request_timeout_ms,
                self.checkout_wait_ms
            );
        }
        Ok(timeout)
    }
}

impl ApiSettings {
    /// The api's configuration, for `api` and `api --dev` alike: the retry budget stored on
    /// the tasks it enqueues is the worker's (`WORKER_MAX_RETRIES`).
    pub fn api_config(
        &self,
        webhook_secret: SecretString,
        stripe: Option<crate::stripe::StripeClientConfig>,
        worker: &WorkerSettings,
        checkout_urls: crate::checkout::request::UrlDefaults,
    ) -> anyhow::Result<crate::app::ApiConfig> {
        Ok(crate::app::ApiConfig {
            bind: self.bind,
            checkout_wait: self.checkout_wait(),
            request_timeout: self.request_timeout()?,
            webhook_secret: Some(webhook_secret),
            admin_token: self.admin_token.clone(),
            max_attempts: worker.retry_policy().max_attempts(),
            stripe,
            checkout_urls,
        })
    }
}

/// A required setting that is missing: the process stops with one line naming it.
pub fn require<'a, T>(value: &'a Option<T>, flag: &str, env: &str) -> anyhow::Result<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("missing required setting {flag} (env {env})"))
}

impl WorkerSettings {
    /// Reads `NOTIFY_WEBHOOK_URL_FILE` if given.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        fill_from_file(
            &mut self.notify_webhook_url,
            &self.notify_webhook_url_file,
            "NOTIFY_WEBHOOK_URL_FILE",
        )
    }

    pub fn retry_policy(&self) -> crate::outbox::runtime::RetryPolicy {
        crate::outbox::runtime::RetryPolicy {
            max_retries: self.max_retries,
            base: Duration::from_millis(self.retry_base_ms),
            cap: Duration::from_millis(self.retry_cap_ms),
        }
    }

    /// The worker's configuration, for `worker` and `api --dev` alike; `prefix` starts the
    /// worker's unique name.
    pub fn worker_config(
        &self,
        stripe: crate::stripe::StripeClientConfig,
        prefix: &str,
    ) -> crate::app::WorkerConfig {
        crate::app::WorkerConfig {
            stripe,
            notify_webhook_url: self.notify_webhook_url.clone(),
            runtime: self.runtime(prefix),
        }
    }

    /// The outbox runtime settings for one process, with a name no other process has.
    pub fn runtime(&self, prefix: &str) -> crate::outbox::runtime::RuntimeConfig {
        let mut rt = crate::outbox::runtime::RuntimeConfig::new(
            crate::outbox::runtime::RuntimeConfig::unique_name(prefix),
        );
        rt.concurrency = self.concurrency.max(1);
        rt.batch_size = self.concurrency.clamp(1, 100);
        rt.retry = self.retry_policy();
        rt.poll_interval = Duration::from_millis(self.poll_interval_ms.max(10));
        rt
    }
}

/// The outcome of `--log-json`.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log JSON lines instead of human-readable text.
    #[arg(long, env = "LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

/// Return URLs for checkouts that carry none (the old storefront sends no `success_url` or
/// `cancel_url`). Used by the api.
#[derive(Debug, Clone, Default, Args)]
pub struct CheckoutUrlSettings {
    /// Where Stripe sends a customer after paying, when the checkout request names no
    /// `success_url`. Stripe's `{CHECKOUT_SESSION_ID}` placeholder passes through.
    #[arg(long, env = "CHECKOUT_SUCCESS_URL")]
    pub checkout_success_url: Option<String>,
    /// Where Stripe sends a customer who cancels, when the request names no `cancel_url`.
    #[arg(long, env = "CHECKOUT_CANCEL_URL")]
    pub checkout_cancel_url: Option<String>,
}

impl CheckoutUrlSettings {
    /// The defaults, each checked as a request's URL would be; a bad one names its setting.
    pub fn defaults(&self) -> anyhow::Result<crate::checkout::request::UrlDefaults> {
        let parse = |value: &Option<String>, flag: &str, env: &str| {
            value
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .map(|url| {
                    crate::checkout::request::ReturnUrl::parse(url.trim()).ok_or_else(|| {
                        anyhow::anyhow!(
                            "invalid setting {flag} (env {env}): must be an absolute http(s) URL"
                        )
                    })
                })
                .transpose()
        };
        Ok(crate::checkout::request::UrlDefaults {
            success_url: parse(
                &self.checkout_success_url,
                "--checkout-success-url",
                "CHECKOUT_SUCCESS_URL",
            )?,
            cancel_url: parse(
                &self.checkout_cancel_url,
                "--checkout-cancel-url",
                "CHECKOUT_CANCEL_URL",
            )?,
        })
    }
}
