//! Settings of the three processes: clap flags with environment fallbacks, parsed once.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use secrecy::SecretString;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/h2s_dispatch";

#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Postgres URL; the database is created if missing and migrated at start.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Connections in this process's pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
}

#[derive(Debug, Clone, Args)]
pub struct StripeSettings {
    /// Stripe secret key (sk_...). Required outside `--dev`.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<SecretString>,
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
    #[arg(long = "concurrency", env = "WORKER_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// Retries of a failing outbox task before it is parked as dead.
    #[arg(long, env = "WORKER_MAX_RETRIES", default_value_t = 8)]
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    #[arg(long, env = "WORKER_RETRY_BASE_MS", default_value_t = 250)]
    pub retry_base_ms: u64,
    /// Upper bound of one retry delay in milliseconds.
    #[arg(long, env = "WORKER_RETRY_CAP_MS", default_value_t = 60_000)]
    pub retry_cap_ms: u64,
    /// Management notification endpoint (Slack-compatible). Unset: notifications are logged.
    #[arg(long, env = "NOTIFY_WEBHOOK_URL")]
    pub notify_webhook_url: Option<String>,
    /// Fallback poll of the outbox, in milliseconds (tasks are normally picked up at once by
    /// LISTEN/NOTIFY; the poll bounds the delay when a notification is missed).
    #[arg(long, env = "WORKER_POLL_INTERVAL_MS", default_value_t = 100)]
    pub poll_interval_ms: u64,
    /// Serve this process's `/metrics` (task attempts, Stripe latency) on this address.
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
    /// Bearer token of the admin routes; unset: admin routes answer 401.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<SecretString>,
    /// How long `POST /api/shop` waits for the worker before answering 202, in milliseconds.
    #[arg(long, env = "CHECKOUT_WAIT_MS", default_value_t = 3_000)]
    pub checkout_wait_ms: u64,
}

impl ApiSettings {
    pub fn checkout_wait(&self) -> Duration {
        Duration::from_millis(self.checkout_wait_ms)
    }
}

/// A required setting that is missing: the process stops with one line naming it.
pub fn require<'a, T>(value: &'a Option<T>, flag: &str, env: &str) -> anyhow::Result<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("missing required setting {flag} (env {env})"))
}

impl WorkerSettings {
    pub fn retry_policy(&self) -> crate::outbox::runtime::RetryPolicy {
        crate::outbox::runtime::RetryPolicy {
            max_retries: self.max_retries,
            base: Duration::from_millis(self.retry_base_ms),
            cap: Duration::from_millis(self.retry_cap_ms),
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
