//! Building and running the processes, so that binaries and tests start the real thing.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    checkout::{Checkouts, request::UrlDefaults, waiter::Waiters},
    http::{AppState, router},
    notify::Notifier,
    outbox::{self, tasks::Tasks},
    queue as runtime,
    stripe::{StripeClientConfig, StripeHttp},
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
        let feed = runtime::Waker::on_channel(
            pool.clone(),
            crate::events::CHANNEL,
            crate::events::WAKE.to_owned(),
        );
        let state = AppState {
            pool: pool.clone(),
            feed,
            checkouts: Checkouts {
                waker: runtime::Waker::start(pool.clone(), outbox::QUEUE),
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

/// What the worker process needs, already validated.
#[derive(Clone)]
pub struct WorkerConfig {
    pub stripe: StripeClientConfig,
    pub notify_webhook_url: Option<SecretString>,
    pub runtime: runtime::RuntimeConfig,
    /// Where event deliveries may connect (`--event-endpoints-allow-private`).
    pub event_endpoints: crate::events::address::AddressPolicy,
}

/// Runs the outbox worker until `shutdown` resolves.
pub async fn run_worker(
    pool: PgPool,
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tasks = Tasks {
        pool: pool.clone(),
        stripe: StripeHttp::new(config.stripe).context("building the Stripe client")?,
        notifier: Notifier::new(config.notify_webhook_url),
    };
    tracing::info!(
        worker = %config.runtime.worker_name,
        concurrency = config.runtime.concurrency,
        queue = outbox::QUEUE,
        "worker started"
    );
    runtime::run(pool, config.runtime, tasks, shutdown).await
}

/// Serves this process's counters as Prometheus text on `GET /metrics` (for the worker,
/// whose work the API's `/metrics` cannot see), `GET /healthz` (up) and `GET /readyz` (the
/// database answers and takes writes: what a Kubernetes readiness probe asks), until
/// `shutdown` resolves.
pub async fn serve_metrics(
    addr: SocketAddr,
    pool: PgPool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let readyz = |axum::extract::State(pool): axum::extract::State<PgPool>| async move {
        match crate::db::writable(&pool).await {
            Ok(true) => (axum::http::StatusCode::OK, "ok"),
            Ok(false) => (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database read-only",
            ),
            Err(_) => (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable",
            ),
        }
    };
    let metrics = |axum::extract::State(pool): axum::extract::State<PgPool>| async move {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                crate::metrics::CONTENT_TYPE,
            )],
            crate::metrics::render_fresh(&pool).await,
        )
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(pool);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics server failed")
}

/// One stop signal for every task of a process (the api, the worker, a metrics endpoint,
/// the in-process reconciler): `stop` once, and every `stopped()` future resolves, including
/// those made after the stop.
#[derive(Clone)]
pub struct Stop(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Stop(std::sync::Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Stop {
    /// A stop signal that fires on SIGTERM or ctrl-c (see [`shutdown_signal`]).
    pub fn on_signal() -> Stop {
        let stop = Stop::default();
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            trigger.stop();
        });
        stop
    }

    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once [`Stop::stop`] has been called.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
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
