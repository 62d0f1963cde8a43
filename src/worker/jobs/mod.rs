//! The app's jobs, above the generic queue runner (`queue`): one file per task kind (the
//! kinds are `outbox::OutboxTask`'s list), each calling into the domain. The match in
//! [`Tasks::handle`] is the one list that names each kind's file: it has no `_` arm, so a
//! kind without its job does not compile.

mod checkout;
mod ensure_dispatch_job;
mod notify;
mod refund;

use sqlx::PgPool;

use crate::{
    checkout::waiter::Signals,
    notify::Notifier,
    outbox::OutboxTask,
    queue::{Attempt, TaskError, TaskHandler},
    stripe::StripeHttp,
};

/// Everything a task needs. Cheap to clone: pools and clients are shared handles.
#[derive(Clone)]
pub struct Tasks {
    pub pool: PgPool,
    pub stripe: StripeHttp,
    pub notifier: Notifier,
    /// Where checkouts tell their end to the requests waiting on them.
    pub signals: Signals,
}

impl Tasks {
    /// The tasks' handles, and the task that sends the checkouts' ends (`Signals`).
    pub fn new(pool: PgPool, stripe: StripeHttp, notifier: Notifier) -> Self {
        Tasks {
            signals: Signals::start(pool.clone()),
            pool,
            stripe,
            notifier,
        }
    }

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
    type Job = OutboxTask;

    async fn handle(&self, task: OutboxTask, attempt: Attempt) -> Result<(), TaskError> {
        self.trace(&task).await;
        match task {
            OutboxTask::Checkout {
                order_id,
                checkout_trace_id,
                inputs,
                ..
            } => {
                let with = crate::checkout::Fulfil {
                    pool: &self.pool,
                    stripe: &self.stripe,
                    signals: &self.signals,
                };
                let inputs = inputs.map(|i| *i);
                checkout::run(with, &order_id, checkout_trace_id, inputs, &attempt).await
            }
            OutboxTask::EnsureDispatchJob { order_id } => {
                ensure_dispatch_job::run(&self.pool, &order_id, &attempt).await
            }
            OutboxTask::NotifyPaid { order_id } => {
                notify::run(&self.pool, &self.notifier, notify::Notice::Paid, &order_id).await
            }
            OutboxTask::NotifyDispute { order_id } => {
                notify::run(
                    &self.pool,
                    &self.notifier,
                    notify::Notice::Dispute,
                    &order_id,
                )
                .await
            }
            OutboxTask::Refund {
                refund_request_id, ..
            } => refund::run(&self.pool, &self.stripe, refund_request_id).await,
        }
    }
}
