//! What the runner asks of the application: a job type it can decode from a row, and a
//! handler that does the work of one.

use std::{future::Future, time::Duration};

use serde::de::DeserializeOwned;

use super::{Attempt, TaskError};

/// A unit of work as a row's payload holds it (JSON).
pub trait Job: DeserializeOwned + Send + 'static {
    /// Its kind, for logs and the dead-task counter.
    fn kind(&self) -> &'static str;
    /// The span one attempt runs in, with the row's id and the attempt number (1-based).
    fn span(&self, task_id: &str, attempt: i32) -> tracing::Span;
}

/// Does the work of one job. Implementations must be idempotent: an attempt may run again
/// after a crash, a release at shutdown, or a worker declared dead. A job that writes may
/// complete itself in the transaction of its writes ([`Attempt::complete_in`]), so that its
/// work and its acknowledgement are one commit; otherwise the runner records its end.
pub trait TaskHandler: Clone + Send + Sync + 'static {
    type Job: Job;
    fn handle(
        &self,
        job: Self::Job,
        attempt: Attempt,
    ) -> impl Future<Output = Result<(), TaskError>> + Send;
}

/// What the runner tells of its attempts, for the app to count (River's middleware, the
/// registry's runner): the runner itself records no metric. Plugged in through
/// [`super::RuntimeConfig::observer`].
pub trait Observer: std::fmt::Debug + Send + Sync + 'static {
    /// One attempt of a job of `kind` ended; `failure` is its error class when it failed
    /// (`retryable`, `outage`, `permanent`).
    fn attempt(&self, kind: &'static str, failure: Option<&'static str>);
    /// A job of `kind` died: failed for good, or failed its last attempt.
    fn died(&self, kind: &'static str);
}

/// Tells nobody.
#[derive(Debug)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn attempt(&self, _: &'static str, _: Option<&'static str>) {}
    fn died(&self, _: &'static str) {}
}

/// One attempt, bounded by `limit`. Past it the attempt ends as an outage, not counted
/// towards the task's death: every step of a task is bounded on its own (Stripe calls by
/// their timeout, statements by `statement_timeout`), so an attempt this late is waiting on a
/// stalled database connection, which the server's timeouts cannot end for the client. The
/// process's connections are distrusted before the attempt is dropped, so that its own (maybe
/// on the stalled flow) is closed rather than pinged when it goes back to the pool.
pub(super) async fn bounded(
    attempt: impl Future<Output = Result<(), TaskError>>,
    limit: Duration,
) -> Result<(), TaskError> {
    tokio::pin!(attempt);
    tokio::select! {
        outcome = &mut attempt => outcome,
        () = tokio::time::sleep(limit) => {
            crate::db::distrust_open_connections(crate::db::Distrust::Stalled);
            let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(limit_ms, "outbox task attempt timed out: ended as an outage");
            Err(TaskError::Outage {
                reason: format!("the attempt outlived WORKER_TASK_TIMEOUT_MS ({} ms)", limit.as_millis()),
                retry_after: None,
                source: None,
            })
        }
    }
}
