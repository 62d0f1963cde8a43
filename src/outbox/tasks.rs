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

impl Tasks {
    /// Puts the order's `checkout_trace_id` (and the checkout request's id) on the task's
    /// span, so that its lines join the order's trace. Tasks other than the checkout carry
    /// no trace id: it is read from the order (best effort: a miss only costs the field).
    async fn trace(&self, task: &OutboxTask) {
        let span = tracing::Span::current();
        let trace_id = match task {
            OutboxTask::Checkout {
                checkout_trace_id,
                request_id,
                ..
            } => {
                if let Some(id) = request_id {
                    span.record("request_id", id.as_str());
                }
                Some(*checkout_trace_id)
            }
            other => sqlx::query_scalar::<_, Option<uuid::Uuid>>(
                r#"SELECT checkout_trace_id FROM h2s_orders WHERE order_id = $1"#,
            )
            .bind(other.order_id())
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .flatten(),
        };
        if let Some(id) = trace_id {
            span.record("checkout_trace_id", tracing::field::display(id));
        }
    }
}

impl TaskHandler for Tasks {
    async fn handle(&self, task: OutboxTask) -> Result<(), TaskError> {
        let kind = task.kind();
        self.trace(&task).await;
        let result = match &task {
            OutboxTask::Checkout {
                order_id,
                checkout_trace_id,
                ..
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
            OutboxTask::NotifyDispute { order_id } => {
                self.notifier.dispute(&self.pool, order_id).await
            }
            OutboxTask::Refund {
                refund_request_id, ..
            } => {
                crate::refunds::task::carry_out(&self.pool, &self.stripe, *refund_request_id).await
            }
        };
        crate::metrics::task_attempt(
            kind,
            match &result {
                Ok(()) => None,
                Err(TaskError::Retryable { .. }) => Some("retryable"),
                Err(TaskError::Outage { .. }) => Some("outage"),
                Err(TaskError::Permanent { .. }) => Some("permanent"),
            },
        );
        result
    }
}
