//! Building and running the processes, so that binaries and tests start the real thing:
//! the api here, the reconciler in [`reconcile`], the worker in `crate::worker`.

pub mod reconcile;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    checkout::{Checkouts, waiter::Waiters},
    config::ApiSettings,
    http::{AppState, Webhook, router},
    outbox,
    queue::{Commits, Waker},
    stripe::{StripeClientConfig, StripeHttp},
};
pub use crate::{
    scrape::serve as serve_metrics,
    stop::{Stop, shutdown_signal},
    worker::{WorkerConfig, run_outbox as run_worker},
};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    request_timeout: Duration,
}

impl Application {
    /// Binds the listener and starts the `LISTEN` connection; `run` serves. `settings` were
    /// read and checked once (`ApiSettings::check`); `stripe` is the client of the admin
    /// routes' sweeps (the configured key's, the dev sandbox's, or none).
    pub async fn build(
        pool: PgPool,
        settings: Arc<ApiSettings>,
        stripe: Option<StripeClientConfig>,
    ) -> anyhow::Result<Self> {
        let webhook = Webhook::resolve(&settings.http, stripe.as_ref().map(|c| &c.secret_key))?;
        let bind = settings.http.bind;
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let waiters = Waiters::listen(&pool)
            .await
            .context("cannot LISTEN for checkout results")?;
        // The checkout's and the webhook's transactions are quiet: after each commit they
        // wake the workers, and the webhook's also the event feed's delivery loop (a
        // checkout records no feed event, so it wakes no one there).
        let workers = Waker::start(pool.clone(), outbox::QUEUE);
        let commits = Commits::quiet(
            pool.clone(),
            vec![
                workers.clone(),
                Waker::on_channel_when(
                    pool.clone(),
                    crate::events::CHANNEL,
                    crate::events::WAKE.to_owned(),
                    crate::events::WAKE_WHEN,
                ),
            ],
        );
        let state = AppState {
            pool: pool.clone(),
            commits: commits.clone(),
            checkouts: Checkouts {
                commits: Commits::quiet(pool.clone(), vec![workers]),
                pool,
                waiters,
                wait: settings.http.checkout_wait(),
                capture: settings.shared.payment_capture,
            },
            stripe: stripe
                .map(StripeHttp::new)
                .transpose()
                .context("building the Stripe client")?,
            webhook: Arc::new(webhook),
            settings,
        };
        Ok(Application {
            request_timeout: state.settings.http.request_timeout(),
            listener,
            state,
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
