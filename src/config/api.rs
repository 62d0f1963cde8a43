//! The api's settings: its listener, secrets, waits and the checkout return URLs.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use crate::{
    checkout::request::UrlDefaults,
    secrets::{SecretFileError, fill_from_file},
    stripe::StripeClientConfig,
};

#[derive(Debug, Clone, Args)]
pub struct ApiSettings {
    /// Address the HTTP API listens on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Secret that signs Stripe webhooks (whsec_...); several, comma-separated, during a
    /// rotation (any of them verifies). Required outside `--dev`.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<SecretString>,
    /// File holding the webhook signing secrets, one a line (instead of STRIPE_WEBHOOK_SECRET).
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET_FILE",
        conflicts_with = "stripe_webhook_secret"
    )]
    pub stripe_webhook_secret_file: Option<PathBuf>,
    /// Stripe mode the api serves (live or test) when it has no STRIPE_SECRET_KEY to tell
    /// (a key's sk_live_/sk_test_ prefix does); events of the other mode are ignored.
    #[arg(long, env = "STRIPE_MODE", value_enum)]
    pub stripe_mode: Option<crate::stripe::StripeMode>,
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

/// What the API process needs, already validated.
#[derive(Clone)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    pub checkout_wait: Duration,
    /// Longest a request may take before it is answered 503 `timeout`.
    pub request_timeout: Duration,
    pub webhook_secret: Option<crate::stripe::WebhookSecrets>,
    /// The Stripe mode served (from the key, or `--stripe-mode`); `None`: any.
    pub stripe_mode: Option<crate::stripe::StripeMode>,
    pub admin_token: Option<SecretString>,
    /// The worker's attempt limit (`WORKER_MAX_RETRIES` + 1), only for what the console and
    /// the admin lists show of a task no worker has failed yet (`outbox::attempt_limit`):
    /// the worker alone applies it.
    pub worker_max_attempts: i32,
    /// Lets the admin route run reconcile sweeps (they ask Stripe about stale sessions).
    pub stripe: Option<StripeClientConfig>,
    /// Return URLs for checkouts that carry none.
    pub checkout_urls: UrlDefaults,
    /// Where event endpoints may point (`--event-endpoints-allow-private`).
    pub event_endpoints: crate::events::address::AddressPolicy,
    /// How a checkout is paid when its request does not choose (`PAYMENT_CAPTURE`).
    pub payment_capture: crate::orders::CaptureMethod,
}

impl ApiSettings {
    /// The api's configuration, for `api` and `api --dev` alike. The worker's settings give
    /// the attempt limit the console shows; the api enqueues tasks with none of its own.
    pub fn api_config(
        &self,
        webhook_secret: SecretString,
        stripe: Option<crate::stripe::StripeClientConfig>,
        worker: &super::WorkerSettings,
        checkout_urls: crate::checkout::request::UrlDefaults,
    ) -> anyhow::Result<ApiConfig> {
        let webhook_secrets = crate::stripe::WebhookSecrets::parse(&webhook_secret)
            .ok_or_else(|| anyhow::anyhow!("STRIPE_WEBHOOK_SECRET holds no secret"))?;
        let stripe_mode = crate::stripe::StripeMode::resolve(
            stripe.as_ref().map(|c| &c.secret_key),
            self.stripe_mode,
        )?;
        if stripe_mode.is_none() {
            tracing::warn!(
                "no STRIPE_SECRET_KEY or STRIPE_MODE: webhook events of both live and test mode \
                 are accepted; set STRIPE_MODE"
            );
        }
        Ok(ApiConfig {
            bind: self.bind,
            checkout_wait: self.checkout_wait(),
            request_timeout: self.request_timeout()?,
            webhook_secret: Some(webhook_secrets),
            stripe_mode,
            admin_token: self.admin_token.clone(),
            worker_max_attempts: worker.retry_policy().max_attempts(),
            stripe,
            checkout_urls,
            event_endpoints: worker.event_endpoints(),
            payment_capture: worker.payment_capture,
        })
    }
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
