//! The app's jobs, above the generic queue runner (`queue`): one file per task kind, named as
//! the kind, each calling into the domain. The kinds are the one list in `outbox`
//! (`with_task_kinds!`), from which [`jobs!`] declares each kind's module and the match in
//! [`Tasks::handle`] that runs it: a kind without its file does not compile, and no other
//! place names the kinds.

use std::sync::Arc;

use sqlx::PgPool;

use crate::{
    checkout::waiter::Signals,
    config::WorkerSettings,
    notify::Notifier,
    outbox::OutboxTask,
    queue::{Attempt, TaskError, TaskHandler},
    stripe::StripeHttp,
};

/// Everything a task needs. Cheap to clone: pools, clients and the settings are shared
/// handles.
#[derive(Clone)]
pub struct Tasks {
    pub pool: PgPool,
    pub stripe: StripeHttp,
    pub notifier: Notifier,
    /// The worker's settings, read once: a job reads a setting as
    /// `tasks.settings.<section>.<field>`.
    pub settings: Arc<WorkerSettings>,
    /// Where checkouts tell their end to the requests waiting on them.
    pub signals: Signals,
}

impl Tasks {
    /// The tasks' handles, and the task that sends the checkouts' ends (`Signals`).
    pub fn new(
        pool: PgPool,
        stripe: StripeHttp,
        notifier: Notifier,
        settings: Arc<WorkerSettings>,
    ) -> Self {
        Tasks {
            signals: Signals::start(pool.clone()),
            pool,
            stripe,
            notifier,
            settings,
        }
    }

    /// What a checkout (or a new payment link) is fulfilled with (`checkout::fulfil`).
    fn fulfil(&self) -> crate::checkout::Fulfil<'_> {
        crate::checkout::Fulfil {
            pool: &self.pool,
            stripe: &self.stripe,
            signals: &self.signals,
        }
    }

    /// Puts the order's `checkout_trace_id` (and the checkout request's id) on the task's
    /// span, so that its lines join the order's trace. Tasks other than the checkout carry
    /// no trace id: it is read from the order (best effort: a miss only costs the field),
    /// by the notifications' own read of the order, or here.
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
            OutboxTask::NotifyPaid { .. } | OutboxTask::NotifyDispute { .. } => None,
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

/// Declares each kind's job module (`<kind>.rs`) and runs a task with its file's `run`, given
/// the [`Tasks`], the attempt it runs as (a job that writes may complete itself in its own
/// transaction: [`Attempt::complete_in`]) and each of the task's fields by reference.
macro_rules! jobs {
    ($($(#[$doc:meta])* $variant:ident = $kind:ident {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)?
    })*) => {
        $(mod $kind;)*

        impl TaskHandler for Tasks {
            type Job = OutboxTask;

            async fn handle(&self, task: OutboxTask, ack: Attempt) -> Result<(), TaskError> {
                self.trace(&task).await;
                match &task {
                    $(OutboxTask::$variant { $($field),* } => {
                        $kind::run(self, &ack, $($field),*).await
                    })*
                }
            }
        }
    };
}

crate::outbox::with_task_kinds!(jobs);
