//! The transactional outbox. `apalis.jobs` is the outbox itself: a task row is inserted with
//! plain SQL inside the business transaction that needs it, so a committed order always has
//! its task and a rolled-back one never does. The generic queue runner (`crate::queue`)
//! drains it, running the app's jobs (`worker::jobs`, one file per kind).

pub mod dead;
pub mod depth;
pub mod housekeeping;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::orders::OrderId;
pub use crate::queue::{Cause, TaskError, UNSET_MAX_ATTEMPTS, attempt_limit};

/// The apalis queue (`apalis.jobs.job_type`) that holds every h2s task.
pub const QUEUE: &str = "h2s_outbox";

/// Declares [`OutboxTask`] from the list of kinds ([`with_task_kinds!`]): each kind's variant,
/// its name (the payload's `kind`, the metrics' `kind` label, the idempotency key's prefix, and
/// the name of its job's file in `worker/jobs/`) and its fields.
macro_rules! declare_outbox_task {
    ($($(#[$doc:meta])* $variant:ident = $kind:ident {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)?
    })*) => {
        /// One unit of outbox work. Each kind is idempotent: running it twice has the effect
        /// of once.
        ///
        /// The payload's `kind` is the variant's name in snake case, which is the `$kind` of
        /// its entry (`tests::each_kind_is_its_payloads_kind` keeps the two equal).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum OutboxTask {
            $($(#[$doc])* $variant { $($(#[$fmeta])* $field: $ty),* },)*
        }

        impl OutboxTask {
            /// Every kind's name, in the list's order.
            pub const KINDS: &'static [&'static str] = &[$(stringify!($kind)),*];

            pub fn kind(&self) -> &'static str {
                match self {
                    $(OutboxTask::$variant { .. } => stringify!($kind),)*
                }
            }

            pub fn order_id(&self) -> &OrderId {
                match self {
                    $(OutboxTask::$variant { order_id, .. } => order_id,)*
                }
            }
        }
    };
}

/// THE list of task kinds. It hands the list to `$callback`: here to declare [`OutboxTask`],
/// in `worker::jobs` to declare each kind's job module and the one match that runs it. A new
/// kind is one entry here and its job, one file `worker/jobs/<kind>.rs` with
/// `pub(super) async fn run(tasks: &Tasks, ack: &Attempt, <each field by reference>)`: the
/// compiler keeps the two in step.
macro_rules! with_task_kinds {
    ($callback:ident) => {
        $callback! {
            /// Resolve the recipient, create the dispatch job, create the Stripe Checkout Session.
            Checkout = checkout {
                order_id: OrderId,
                checkout_trace_id: Uuid,
                /// The id of the request that made the checkout, so the worker's log lines carry
                /// it too (absent from re-enqueued tasks and from rows written before it existed).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                request_id: Option<String>,
                /// What the order's Checkout Session is made of, written with the order, so
                /// that the worker asks Stripe without reading the order first (absent from
                /// re-enqueued and revived tasks and older rows: the worker reads the order).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                inputs: Option<Box<crate::orders::repo::CheckoutInputs>>,
            }
            /// Make sure a (paid) order has its dispatch job, with the status its order implies.
            EnsureDispatchJob = ensure_dispatch_job { order_id: OrderId }
            /// Tell the management channel about a newly paid order.
            NotifyPaid = notify_paid { order_id: OrderId }
            /// Tell the management channel that an order's payment is disputed (its job on hold).
            NotifyDispute = notify_dispute { order_id: OrderId }
            /// Carry out an operator's refund request (`refunds::task`): one task per request.
            Refund = refund {
                order_id: OrderId,
                refund_request_id: Uuid,
            }
            /// Capture a held payment once its job is completed (`payments::hold_steps`): one
            /// task, and one Stripe idempotency key, per order and payment attempt.
            Capture = capture { order_id: OrderId, attempt: i32 }
            /// Release a held payment (cancel its PaymentIntent): its job was cancelled.
            Release = release { order_id: OrderId, attempt: i32 }
            /// Read a manual-capture order's PaymentIntent: held (`requires_capture`) or still
            /// on its way (`processing`), and until when the hold lasts.
            CheckHold = check_hold { order_id: OrderId, attempt: i32 }
            /// Create the Checkout Session of a new payment attempt (a lapsed hold's new link).
            PayLink = pay_link { order_id: OrderId, attempt: i32 }
        }
    };
}
pub(crate) use with_task_kinds;

with_task_kinds!(declare_outbox_task);

impl OutboxTask {
    /// The span an attempt of this task runs in: the order's, and its trace once the task
    /// reads it (`worker::jobs`).
    fn attempt_span(&self, task_id: &str, attempt: i32) -> tracing::Span {
        tracing::info_span!(
            "outbox_task",
            task_id,
            kind = self.kind(),
            order_id = %self.order_id(),
            attempt,
            checkout_trace_id = tracing::field::Empty,
            request_id = tracing::field::Empty,
        )
    }

    /// One row per kind and order (per refund request for refunds): a second enqueue of the
    /// same task is a no-op.
    pub fn idempotency_key(&self) -> String {
        match self {
            OutboxTask::Refund {
                refund_request_id, ..
            } => format!("{}:{refund_request_id}", self.kind()),
            // A held payment's steps: one per order and payment attempt.
            OutboxTask::Capture { attempt, .. }
            | OutboxTask::Release { attempt, .. }
            | OutboxTask::CheckHold { attempt, .. }
            | OutboxTask::PayLink { attempt, .. } => {
                format!("{}:{}:{attempt}", self.kind(), self.order_id().as_str())
            }
            _ => format!("{}:{}", self.kind(), self.order_id().as_str()),
        }
    }
}

impl crate::queue::Job for OutboxTask {
    fn kind(&self) -> &'static str {
        OutboxTask::kind(self)
    }

    fn span(&self, task_id: &str, attempt: i32) -> tracing::Span {
        self.attempt_span(task_id, attempt)
    }
}

/// Writes `task` into the outbox inside `tx`. Runs now (`run_at = now()` of the database, so
/// apalis's insert trigger wakes the workers, or in a quiet transaction its `queue::Commits`
/// after the commit). A live task with the same idempotency key is
/// left alone; a dead one (retries exhausted, or killed) is revived with fresh attempts. This
/// is the one way work enters the outbox, for the API, the webhook and the reconciler (the
/// API's checkout runs the same `INSERT` inside a statement of its own: [`insert_sql`]).
///
/// A revived task (here, `dead::revive`, the sweep's `housekeeping::revive_dead`) drops what a checkout task
/// carried for its first run (`inputs`): its next attempt reads the order, as any attempt
/// after a first one does (`checkout::fulfil`), so its age is the order's.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    task: &OutboxTask,
) -> Result<(), sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| insert_sql("$3", ""));
    bind(sqlx::query(sqlx::AssertSqlSafe(SQL.as_str())), task)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The outbox row's `INSERT` (see [`enqueue`]), for a statement that writes more than it:
/// `$1`..`$5` bound by [`bind`], the payload stored as `payload` (an SQL expression over
/// `$3`, the task's JSON), one row for each row of `from` (a `FROM` clause, or nothing).
pub fn insert_sql(payload: &str, from: &str) -> String {
    format!(
        r#"
    INSERT INTO apalis.jobs
        (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
    SELECT $1, $2, {payload}, 'Pending', 0, $4, now(), 0, $5 {from}
    ON CONFLICT (job_type, idempotency_key) DO UPDATE
        SET status = 'Pending', attempts = 0, run_at = now(),
            lock_by = NULL, lock_at = NULL, done_at = NULL,
            job = convert_to((convert_from(apalis.jobs.job, 'UTF8')::jsonb - 'inputs')::text, 'UTF8')
        WHERE (apalis.jobs.status = 'Failed' AND apalis.jobs.attempts >= apalis.jobs.max_attempts)
           OR apalis.jobs.status = 'Killed'
"#
    )
}

/// Binds `task` as `$1`..`$5` of [`insert_sql`]'s statement: a new id, the queue, the JSON
/// payload, the attempts (the runner's default) and its idempotency key.
pub fn bind<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    task: &OutboxTask,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(ulid::Ulid::new().to_string())
        .bind(QUEUE)
        .bind(serde_json::to_vec(task).expect("an outbox task always serialises"))
        .bind(UNSET_MAX_ATTEMPTS)
        .bind(task.idempotency_key())
}

#[cfg(test)]
mod tests {
    use super::OutboxTask;

    /// A kind's name (its entry's `$kind`, the job's file, the metrics' label) is the name the
    /// payload carries (serde's snake case of the variant): a payload of each listed kind is
    /// read as that kind, never refused as an unknown one.
    #[test]
    fn each_kind_is_its_payloads_kind() {
        for kind in OutboxTask::KINDS {
            let err = serde_json::from_value::<OutboxTask>(serde_json::json!({ "kind": kind }))
                .expect_err("a payload without its fields is refused");
            assert!(
                err.to_string().contains("missing field"),
                "kind {kind} is not a payload kind: {err}"
            );
        }
    }
}
