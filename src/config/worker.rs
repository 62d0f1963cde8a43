//! The worker's settings: its tree ([`WorkerSettings`], what `worker` reads once) and its own
//! section ([`OutboxSettings`]), with the defaults the configuration reference lists.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use crate::{
    config::{
        api::ApiSettings, delivery::DeliverySettings, process::ProcessSettings,
        shared::SharedSettings,
    },
    secrets::{SecretFileError, fill_from_file},
};

pub use crate::queue::defaults::{
    DEFAULT_MAX_RETRIES, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RETRY_BASE_MS, DEFAULT_RETRY_CAP_MS,
    DEFAULT_TASK_TIMEOUT_MS, DEFAULT_WORKER_CONCURRENCY,
};

/// The worker process's settings, read once by `worker` (and, for `api --dev`, put
/// together from the api's sections and [`OutboxSettings`]) and shared by reference: the
/// jobs read them as `tasks.settings` (`worker::Tasks`).
#[derive(Debug, Clone, Args)]
pub struct WorkerSettings {
    #[command(flatten)]
    pub process: ProcessSettings,
    #[command(flatten)]
    pub outbox: OutboxSettings,
    #[command(flatten)]
    pub shared: SharedSettings,
    #[command(flatten)]
    pub delivery: DeliverySettings,
}

/// The worker's own: its outbox runner, its notifications and its metrics endpoint.
#[derive(Debug, Clone, Args)]
pub struct OutboxSettings {
    /// Outbox tasks processed at once by this process.
    #[arg(long = "concurrency", env = "WORKER_CONCURRENCY", default_value_t = DEFAULT_WORKER_CONCURRENCY)]
    pub concurrency: usize,
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
    /// The longest one attempt of a task may run, in milliseconds; past it the attempt ends
    /// as an outage (a stalled database), retried and not counted towards the task's death.
    #[arg(long, env = "WORKER_TASK_TIMEOUT_MS", default_value_t = DEFAULT_TASK_TIMEOUT_MS)]
    pub task_timeout_ms: u64,
    /// Serve this process's `/metrics` (task attempts, Stripe calls, and the database
    /// gauges), `/healthz` and `/readyz` (for probes) on this address (the deployment files
    /// use 9090).
    #[arg(long, env = "WORKER_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
}

impl OutboxSettings {
    /// Reads `NOTIFY_WEBHOOK_URL_FILE` if given.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        fill_from_file(
            &mut self.notify_webhook_url,
            &self.notify_webhook_url_file,
            "NOTIFY_WEBHOOK_URL_FILE",
        )
    }
}

impl WorkerSettings {
    /// The worker `api --dev` runs: on the api's common and shared sections, its own
    /// `outbox`, and its event deliveries on their defaults (`api` has no delivery flags).
    pub fn beside(api: &ApiSettings, outbox: OutboxSettings) -> WorkerSettings {
        WorkerSettings {
            process: api.process.clone(),
            outbox,
            shared: api.shared.clone(),
            delivery: DeliverySettings::default(),
        }
    }

    /// Reads the `*_FILE` twins of every secret the worker holds.
    pub fn read_secret_files(&mut self) -> Result<(), SecretFileError> {
        self.process.read_secret_files()?;
        self.outbox.read_secret_files()
    }

    pub fn retry_policy(&self) -> crate::queue::RetryPolicy {
        crate::queue::RetryPolicy {
            max_retries: self.shared.max_retries,
            base: Duration::from_millis(self.outbox.retry_base_ms),
            cap: Duration::from_millis(self.outbox.retry_cap_ms),
        }
    }

    /// The outbox runtime settings for one process, with a name no other process has.
    pub fn runtime(&self, prefix: &str) -> crate::queue::RuntimeConfig {
        let outbox = &self.outbox;
        let mut rt = crate::queue::RuntimeConfig::new(
            crate::outbox::QUEUE,
            crate::queue::RuntimeConfig::unique_name(prefix),
        );
        rt.concurrency = outbox.concurrency.max(1);
        rt.batch_size = outbox.concurrency.clamp(1, 100);
        rt.retry = self.retry_policy();
        rt.poll_interval = Duration::from_millis(outbox.poll_interval_ms.max(10));
        rt.task_timeout = Duration::from_millis(outbox.task_timeout_ms.max(1));
        rt
    }

    /// What the delivery loop needs, from the delivery section and the endpoint policy.
    pub fn deliveries(&self) -> crate::events::delivery::DeliveryConfig {
        self.delivery.config(self.shared.event_endpoints())
    }

    /// The database pool's target: the configured size, and never fewer connections than
    /// the outbox's tasks in flight and `spare` more.
    pub fn database(&self, spare: u32) -> crate::db::Target {
        let db = &self.process.db;
        db.target(
            db.database_max_connections
                .max(self.outbox.concurrency as u32 + spare),
        )
    }
}
