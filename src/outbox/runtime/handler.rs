//! The work of one outbox task, as the runtime sees it.

use std::{future::Future, time::Duration};

use crate::outbox::{OutboxTask, TaskError};

/// Does the work of one outbox task. Implementations must be idempotent: an attempt may run
/// again after a crash, a release at shutdown, or a worker declared dead.
pub trait TaskHandler: Clone + Send + Sync + 'static {
    fn handle(&self, task: OutboxTask) -> impl Future<Output = Result<(), TaskError>> + Send;
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
