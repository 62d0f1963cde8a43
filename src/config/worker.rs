//! The worker's settings and its defaults (the README's configuration table lists them).

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use crate::secrets::{SecretFileError, fill_from_file};

pub use crate::queue::defaults::{
    DEFAULT_MAX_RETRIES, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RETRY_BASE_MS, DEFAULT_RETRY_CAP_MS,
    DEFAULT_TASK_TIMEOUT_MS, DEFAULT_WORKER_CONCURRENCY,
};

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
    /// The longest one attempt of a task may run, in milliseconds; past it the attempt ends
    /// as an outage (a stalled database), retried and not counted towards the task's death.
    #[arg(long, env = "WORKER_TASK_TIMEOUT_MS", default_value_t = DEFAULT_TASK_TIMEOUT_MS)]
    pub task_timeout_ms: u64,
    /// Serve this process's `/metrics` (task attempts, Stripe calls, and the database
    /// gauges), `/healthz` and `/readyz` (for probes) on this address (the deployment files
    /// use 9090).
    #[arg(long, env = "WORKER_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Allow event endpoints on plain http and on loopback, private and other non-public
    /// addresses (local receivers and tests). Read by the api, which checks an endpoint's URL
    /// when it is created, and by the worker, which checks every address it connects to.
    #[arg(long, env = "EVENT_ENDPOINTS_ALLOW_PRIVATE", default_value_t = false)]
    pub event_endpoints_allow_private: bool,
    /// How a checkout's payment is taken when its request does not choose (`"capture"`):
    /// `automatic` (charged at checkout) or `manual` (held at checkout, captured when the job
    /// is completed). Read by the api, which stores it on each new order, and the worker.
    #[arg(long, env = "PAYMENT_CAPTURE", default_value = "automatic")]
    pub payment_capture: crate::orders::CaptureMethod,
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

    pub fn retry_policy(&self) -> crate::queue::RetryPolicy {
        crate::queue::RetryPolicy {
            max_retries: self.max_retries,
            base: Duration::from_millis(self.retry_base_ms),
            cap: Duration::from_millis(self.retry_cap_ms),
        }
    }

    /// Where event endpoints may point (`--event-endpoints-allow-private`).
    pub fn event_endpoints(&self) -> crate::events::address::AddressPolicy {
        crate::events::address::AddressPolicy {
            allow_private: self.event_endpoints_allow_private,
        }
    }

    /// The outbox runtime settings for one process, with a name no other process has.
    pub fn runtime(&self, prefix: &str) -> crate::queue::RuntimeConfig {
        let mut rt = crate::queue::RuntimeConfig::new(
            crate::outbox::QUEUE,
            crate::queue::RuntimeConfig::unique_name(prefix),
        );
        rt.concurrency = self.concurrency.max(1);
        rt.batch_size = self.concurrency.clamp(1, 100);
        rt.retry = self.retry_policy();
        rt.poll_interval = Duration::from_millis(self.poll_interval_ms.max(10));
        rt.task_timeout = Duration::from_millis(self.task_timeout_ms.max(1));
        rt
    }
}
