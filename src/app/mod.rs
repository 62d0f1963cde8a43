//! Building and running the processes, so that binaries and tests start the real thing:
//! the api here, the reconciler in [`reconcile`], the worker in `crate::worker`.

pub mod reconcile;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    checkout::{Checkouts, request::UrlDefaults, waiter::Waiters},
    config::ApiSettings,
    http::{AppState, router},
    outbox,
    queue::{Commits, Waker},
    stripe::{StripeClientConfig, StripeHttp},
};
pub use crate::{
    scrape::serve as serve_metrics,
    stop::{Stop, shutdown_signal},
    worker::{WorkerConfig, run_outbox as run_worker},
};

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
}

impl ApiSettings {
    /// The api's configuration, for `api` and `api --dev` alike. The worker's settings give
    /// the attempt limit the console shows; the api enqueues tasks with none of its own.
    pub fn api_config(
        &self,
        webhook_secret: SecretString,
        stripe: Option<crate::stripe::StripeClientConfig>,
        worker: &crate::config::WorkerSettings,
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
        })
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    request_timeout: Duration,
}

impl Application {
    /// Binds the listener and starts the `LISTEN` connection; `run` serves.
    pub async fn build(pool: PgPool, config: ApiConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let waiters = Waiters::listen(&pool)
            .await
            .context("cannot LISTEN for checkout results")?;
        // The checkout's and the webhook's transactions are quiet: after each commit they
        // wake the workers and the event feed's delivery loop.
        let commits = Commits::quiet(
            pool.clone(),
            vec![
                Waker::start(pool.clone(), outbox::QUEUE),
                Waker::on_channel(
                    pool.clone(),
                    crate::events::CHANNEL,
                    crate::events::WAKE.to_owned(),
                ),
            ],
        );
        let state = AppState {
            pool: pool.clone(),
            commits: commits.clone(),
            checkouts: Checkouts {
                commits,
                pool,
                waiters,
                wait: config.checkout_wait,
            },
            worker_max_attempts: config.worker_max_attempts,
            webhook_secret: config.webhook_secret,
            stripe_mode: config.stripe_mode,
            admin_token: config.admin_token,
            checkout_urls: config.checkout_urls,
            event_endpoints: config.event_endpoints,
            stripe: config
                .stripe
                .map(StripeHttp::new)
                .transpose()
                .context("building the Stripe client")?,
        };
        Ok(Application {
            listener,
            state,
            request_timeout: config.request_timeout,
        })
    }

    /// The api's router on this application's state: what `run` serves, for in-process
    /// requests (tests' `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        router(self.state.clone(), self.request_timeout)
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "api listening");
        axum::serve(self.listener, router(self.state, self.request_timeout))
            .with_graceful_shutdown(shutdown)
            .await
            .context("http server failed")
    }
}

/// A binary's exit: `code` of what `run` returned, or its error as one line on stderr (the
/// whole `anyhow` chain, which never holds a secret: settings are masked where they are read).
pub fn finish<T>(
    process: &str,
    result: anyhow::Result<T>,
    code: impl FnOnce(T) -> std::process::ExitCode,
) -> std::process::ExitCode {
    match result {
        Ok(value) => code(value),
        Err(e) => {
            eprintln!("{process}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
