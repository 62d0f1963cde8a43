//! The work of one outbox task, as the runtime sees it.

use std::future::Future;

use crate::outbox::{OutboxTask, TaskError};

/// Does the work of one outbox task. Implementations must be idempotent: an attempt may run
/// again after a crash, a release at shutdown, or a worker declared dead.
pub trait TaskHandler: Clone + Send + Sync + 'static {
    fn handle(&self, task: OutboxTask) -> impl Future<Output = Result<(), TaskError>> + Send;
}
