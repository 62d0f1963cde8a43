//! The transactional outbox. `apalis.jobs` is the outbox itself: a task row is inserted with
//! plain SQL inside the business transaction that needs it, so a committed order always has
//! its task and a rolled-back one never does. The generic queue runner (`crate::queue`)
//! drains it, running the app's jobs (`tasks`, one file per kind).

pub mod dead;
pub mod tasks;

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::orders::OrderId;
pub use crate::queue::{Cause, TaskError, UNSET_MAX_ATTEMPTS, attempt_limit};

/// The apalis queue (`apalis.jobs.job_type`) that holds every h2s task.
pub const QUEUE: &str = "h2s_outbox";

/// One unit of outbox work. Each kind is idempotent: running it twice has the effect of once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxTask {
    /// Resolve the recipient, create the dispatch job, create the Stripe Checkout Session.
    Checkout {
        order_id: OrderId,
        checkout_trace_id: Uuid,
        /// The id of the request that made the checkout, so the worker's log lines carry it
        /// too (absent from re-enqueued tasks and from rows written before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// Make sure a (paid) order has its dispatch job, with the status its order implies.
    EnsureDispatchJob { order_id: OrderId },
    /// Tell the management channel about a newly paid order.
    NotifyPaid { order_id: OrderId },
    /// Tell the management channel that an order's payment is disputed (its job on hold).
    NotifyDispute { order_id: OrderId },
    /// Carry out an operator's refund request (`refunds::task`): one task per request.
    Refund {
        order_id: OrderId,
        refund_request_id: Uuid,
    },
}

impl OutboxTask {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxTask::Checkout { .. } => "checkout",
            OutboxTask::EnsureDispatchJob { .. } => "ensure_dispatch_job",
            OutboxTask::NotifyPaid { .. } => "notify_paid",
            OutboxTask::NotifyDispute { .. } => "notify_dispute",
            OutboxTask::Refund { .. } => "refund",
        }
    }

    pub fn order_id(&self) -> &OrderId {
        match self {
            OutboxTask::Checkout { order_id, .. }
            | OutboxTask::EnsureDispatchJob { order_id }
            | OutboxTask::NotifyPaid { order_id }
            | OutboxTask::NotifyDispute { order_id }
            | OutboxTask::Refund { order_id, .. } => order_id,
        }
    }

    /// The span an attempt of this task runs in: the order's, and its trace once the task
    /// reads it (`tasks`).
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
/// apalis's insert trigger wakes the workers). A live task with the same idempotency key is
/// left alone; a dead one (retries exhausted, or killed) is revived with fresh attempts. This
/// is the one way work enters the outbox, for the API, the webhook and the reconciler.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    task: &OutboxTask,
) -> Result<(), sqlx::Error> {
    insert(tx, task, ENQUEUE_SQL).await
}

/// [`enqueue`], with the insert trigger silent for the rest of `tx` (`wake`): the caller
/// must call `queue::Waker::wake` once `tx` has committed. For the api's hot paths, whose commits
/// a NOTIFY inside them would serialise.
pub async fn enqueue_then_wake(
    tx: &mut Transaction<'_, Postgres>,
    task: &OutboxTask,
) -> Result<(), sqlx::Error> {
    insert(tx, task, ENQUEUE_QUIET_SQL).await
}

/// The outbox row's `INSERT`, its values selected from `$from` (where the quiet variant sets
/// `h2s.wake_after_commit` in the same statement, before the trigger runs).
macro_rules! enqueue_sql {
    ($from:literal) => {
        concat!(
            r#"
        INSERT INTO apalis.jobs
            (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
        SELECT $1, $2, $3, 'Pending', 0, $4, now(), 0, $5 FROM "#,
            $from,
            r#"
        ON CONFLICT (job_type, idempotency_key) DO UPDATE
            SET status = 'Pending', attempts = 0, run_at = now(),
                lock_by = NULL, lock_at = NULL, done_at = NULL
            WHERE (apalis.jobs.status = 'Failed' AND apalis.jobs.attempts >= apalis.jobs.max_attempts)
               OR apalis.jobs.status = 'Killed'
        "#
        )
    };
}
const ENQUEUE_SQL: &str = enqueue_sql!("(SELECT 1) AS one");
const ENQUEUE_QUIET_SQL: &str =
    enqueue_sql!("(SELECT set_config('h2s.wake_after_commit', 'on', true)) AS quiet");

async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    task: &OutboxTask,
    sql: &'static str,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_vec(task).expect("an outbox task always serialises");
    sqlx::query(sql)
        .bind(ulid::Ulid::new().to_string())
        .bind(QUEUE)
        .bind(payload)
        .bind(UNSET_MAX_ATTEMPTS)
        .bind(task.idempotency_key())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
