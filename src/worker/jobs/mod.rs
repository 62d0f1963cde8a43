//! The app's jobs, above the generic queue runner (`queue`): one file per task kind, named as
//! the kind, each calling into the domain. The kinds are the one list in `outbox`
//! (`with_task_kinds!`), from which [`jobs!`] declares each kind's module and the match in
//! [`Tasks::handle`] that runs it: a kind without its file does not compile, and no other
//! place names the kinds.

use sqlx::PgPool;

use crate::{
    notify::Notifier,
    outbox::OutboxTask,
    queue::{TaskError, TaskHandler},
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

/// Declares each kind's job module (`<kind>.rs`) and runs a task with its file's `run`, given
/// the [`Tasks`] and each of the task's fields by reference.
macro_rules! jobs {
    ($($(#[$doc:meta])* $variant:ident = $kind:ident {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)?
    })*) => {
        $(mod $kind;)*

        impl TaskHandler for Tasks {
            type Job = OutboxTask;

            async fn handle(&self, task: OutboxTask) -> Result<(), TaskError> {
                self.trace(&task).await;
                match &task {
                    $(OutboxTask::$variant { $($field),* } => $kind::run(self, $($field),*).await,)*
                }
            }
        }
    };
}

crate::outbox::with_task_kinds!(jobs);
