//! The worker process: the outbox tasks and what runs them.

use sqlx::PgPool;

use crate::{
    checkout, dispatch,
    notify::Notifier,
    outbox::{OutboxTask, TaskError, runtime::TaskHandler},
    stripe::StripeHttp,
};

/// Everything a task needs. Cheap to clone: pools and clients are shared handles.
#[derive(Clone)]
pub struct Tasks {
    pub pool: PgPool,
    pub stripe: StripeHttp,
    pub notifier: Notifier,
}

impl TaskHandler for Tasks {
    async fn handle(&self, task: OutboxTask) -> Result<(), TaskError> {
        let kind = task.kind();
        let result = match &task {
            OutboxTask::Checkout {
                order_id,
                checkout_trace_id,
            } => checkout::fulfil(&self.pool, &self.stripe, order_id, *checkout_trace_id).await,
            OutboxTask::EnsureDispatchJob { order_id } => {
                let mut tx = self.pool.begin().await?;
                dispatch::ensure_job(&mut tx, order_id).await?;
                tx.commit().await?;
                Ok(())
            }
            OutboxTask::NotifyPaid { order_id } => {
                self.notifier.paid_order(&self.pool, order_id).await
            }
        };
        crate::metrics::task_attempt(
            kind,
            match &result {
                Ok(()) => None,
                Err(TaskError::Retryable { .. }) => Some("retryable"),
                Err(TaskError::Outage { .. }) => Some("outage"),
                Err(TaskError::Permanent(_)) => Some("permanent"),
            },
        );
        result
    }
}
