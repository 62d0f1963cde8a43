//! The worker's defaults, in one place: `RuntimeConfig::new` and the worker's flags
//! (`config::WorkerSettings`, whose `--help` and the README's configuration table show them)
//! read these. The retry budget is the worker's alone (see `queue::UNSET_MAX_ATTEMPTS`).

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
/// `WORKER_TASK_TIMEOUT_MS`: the longest one attempt may run before it ends as an outage.
pub const DEFAULT_TASK_TIMEOUT_MS: u64 = 60_000;
