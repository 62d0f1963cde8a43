//! The api's settings: its tree ([`ApiSettings`], what `api` reads once and its handlers
//! share) and its own sections: the HTTP surface ([`HttpSettings`]) and the checkout's
//! return URLs ([`CheckoutUrlSettings`]).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use crate::{
    checkout::request::{ReturnUrl, UrlDefaults},
    config::{process::ProcessSettings, shared::SharedSettings},
    secrets::{SecretFileError, fill_from_file},
};

/// The api process's settings, read once by `api` (and `api --dev`), checked before anything
/// connects, then shared by reference: handlers read them as `state.settings.<section>`.
/// Only what the api reads: the worker's own section is apart (`OutboxSettings`).
#[derive(Debug, Clone, Args)]
pub struct ApiSettings {
    #[command(flatten)]
    pub process: ProcessSettings,
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub shared: SharedSettings,
    #[command(flatten)]
    pub checkout_urls: CheckoutUrlSettings,
}

impl ApiSettings {
    /// Reads the `*_FILE` twins of every secret the api holds.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        self.process.read_secret_files()?;
        self.http.read_secret_files()
    }

    /// Every check that needs no connection: a bad setting stops the process here, with one
    /// line naming it. Fills what the checks parse (the return URLs).
    pub fn check(&mut self) -> anyhow::Result<()> {
        self.http.check()?;
        self.checkout_urls.check()
    }
}

#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
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

impl HttpSettings {
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

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The request timeout against the checkout wait: a timeout shorter than the wait would
    /// cut every slow checkout into an error instead of its 202.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.request_timeout() < self.checkout_wait() + Duration::from_secs(1) {
            anyhow::bail!(
                "--request-timeout-ms (env REQUEST_TIMEOUT_MS) {} must exceed --checkout-wait-ms \
                 (env CHECKOUT_WAIT_MS) {} by at least 1000",
                self.request_timeout_ms,
                self.checkout_wait_ms
            );
        }
        Ok(())
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
    /// Both, parsed by [`CheckoutUrlSettings::check`]: what the checkout reads.
    #[arg(skip)]
    pub defaults: UrlDefaults,
}

impl CheckoutUrlSettings {
    /// Parses the defaults, each checked as a request's URL would be; a bad one names its
    /// setting.
    pub fn check(&mut self) -> anyhow::Result<()> {
        let parse = |value: &Option<String>, flag: &str, env: &str| {
            value
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .map(|url| {
                    ReturnUrl::parse(url.trim()).ok_or_else(|| {
                        anyhow::anyhow!(
                            "invalid setting {flag} (env {env}): must be an absolute http(s) URL"
                        )
                    })
                })
                .transpose()
        };
        self.defaults = UrlDefaults {
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
        };
        Ok(())
    }
}
