//! The worker process: the app's jobs (`jobs`, one file per task kind) on the generic queue
//! runner (`queue`), the runner's attempts counted by the app's metrics ([`Counted`]), and
//! the event feed's delivery loop beside it. [`run`] is its whole start-up, for `worker` and
//! `api --dev` alike.

mod errors;
pub mod jobs;

use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;

pub use jobs::Tasks;

use crate::{
    config::WorkerSettings,
    events::delivery,
    notify::Notifier,
    outbox,
    queue::{self, Observer},
    stripe::{StripeClientConfig, StripeHttp},
};

/// What the worker process runs on: its settings, read once and shared, the Stripe client's
/// (the configured key's, or the dev sandbox's), and the runner's settings made from them.
#[derive(Clone)]
pub struct WorkerConfig {
    pub settings: Arc<WorkerSettings>,
    pub stripe: StripeClientConfig,
    pub runtime: queue::RuntimeConfig,
}

impl WorkerConfig {
    /// For `worker` and `api --dev` alike; `prefix` starts the worker's unique name.
    pub fn new(settings: Arc<WorkerSettings>, stripe: StripeClientConfig, prefix: &str) -> Self {
        WorkerConfig {
            runtime: settings.runtime(prefix),
            settings,
            stripe,
        }
    }

    /// What the jobs run with: the pool, the Stripe client, the notifier and the settings.
    pub fn tasks(&self, pool: PgPool) -> anyhow::Result<Tasks> {
        Ok(Tasks::new(
            pool,
            StripeHttp::new(self.stripe.clone()).context("building the Stripe client")?,
            Notifier::new(self.settings.outbox.notify_webhook_url.clone()),
            self.settings.clone(),
        ))
    }
}

/// The runner's attempts and deaths, counted in this process's metrics.
#[derive(Debug)]
pub struct Counted;

impl Observer for Counted {
    fn attempt(&self, kind: &'static str, failure: Option<&'static str>) {
        crate::metrics::task_attempt(kind, failure);
    }
    fn died(&self, kind: &'static str) {
        crate::metrics::task_dead(kind);
    }
}

/// Runs the outbox worker until `shutdown` resolves.
pub async fn run_outbox(
    pool: PgPool,
    mut config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tasks = config.tasks(pool.clone())?;
    config.runtime.observer = std::sync::Arc::new(Counted);
    tracing::info!(
        worker = %config.runtime.worker_name,
        concurrency = config.runtime.concurrency,
        queue = outbox::QUEUE,
        "worker started"
    );
    queue::run(pool, config.runtime, tasks, shutdown).await
}

/// The worker's whole start-up: the outbox and, beside it on its own connections and
/// tasks, the event feed's deliveries (a backlog or a dead endpoint there never holds an
/// outbox task up), until `stop` fires. Either ending stops the other.
pub async fn run(
    pool: PgPool,
    config: WorkerConfig,
    stop: crate::stop::Stop,
) -> anyhow::Result<()> {
    let deliveries = config.settings.deliveries();
    let deliveries = tokio::spawn(delivery::run(pool.clone(), deliveries, stop.stopped()));
    let outbox = run_outbox(pool, config, stop.stopped()).await;
    stop.stop();
    deliveries.await??;
    outbox
}
