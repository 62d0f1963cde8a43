//! The transactional outbox. `apalis.jobs` is the outbox itself: a task row is inserted with
//! plain SQL inside the business transaction that needs it, so a committed order always has
//! its task and a rolled-back one never does. The apalis worker (`runtime`) drains it.

pub mod dead;
pub mod runtime;
pub mod tasks;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::orders::OrderId;

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

/// The error behind a failed attempt, kept for the cause chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a task attempt failed. `reason` is the text the logs and the row's `last_result`
/// show; `source`, when there is one, is the typed error it came from.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Worth another attempt later (network, timeout, 429, 5xx, a database error).
    #[error("retryable: {reason}")]
    Retryable {
        reason: String,
        /// The server's `Retry-After`, honoured as the minimum delay.
        retry_after: Option<Duration>,
        #[source]
        source: Option<Cause>,
    },
    /// A dependency fails for reasons that are not this task's (Stripe rejects our key, rate
    /// limits, errors or times out; the database is down or read-only): retried with the
    /// capped backoff for as long as it lasts, never counted towards the task's death. The
    /// task's own step bounds it in time (the checkout gives up 23 h after the order, inside
    /// Stripe's idempotency window).
    #[error("dependency outage: {reason}")]
    Outage {
        reason: String,
        retry_after: Option<Duration>,
        #[source]
        source: Option<Cause>,
    },
    /// Will fail the same way every time: do not retry.
    #[error("permanent: {reason}")]
    Permanent {
        reason: String,
        #[source]
        source: Option<Cause>,
    },
}

impl TaskError {
    /// Retryable, with no error behind it (an answer that is not what was hoped for).
    pub fn retryable(reason: impl Into<String>, retry_after: Option<Duration>) -> Self {
        TaskError::Retryable {
            reason: reason.into(),
            retry_after,
            source: None,
        }
    }

    /// Permanent, with no error behind it.
    pub fn permanent(reason: impl Into<String>) -> Self {
        TaskError::Permanent {
            reason: reason.into(),
            source: None,
        }
    }

    /// Permanent because of `error`, whose text is the reason.
    pub fn permanent_from(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        TaskError::Permanent {
            reason: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

/// A database outage (down, or read-only after a failover) is not the task's failure: it is
/// waited out without counting towards the task's death. Any other database error is.
impl From<sqlx::Error> for TaskError {
    fn from(e: sqlx::Error) -> Self {
        let outage = crate::db::outage(&e).is_some();
        let (reason, retry_after) = (format!("database: {e}"), None);
        let source: Option<Cause> = Some(Box::new(e));
        if outage {
            TaskError::Outage {
                reason,
                retry_after,
                source,
            }
        } else {
            TaskError::Retryable {
                reason,
                retry_after,
                source,
            }
        }
    }
}

/// `max_attempts` of a task row as `enqueue` writes it: the enqueuing side (the api, the
/// webhook, the reconciler) has no retry policy. The worker's settings are the only owner of
/// the budget: apalis fetches a `Pending` row whatever this says, and a worker's failed
/// attempt writes its own policy's limit on the row (`runtime::service`), which from then on
/// is the limit in force. Revivals (`enqueue`'s conflict branch, the admin retry, the
/// sweep) reset `attempts` and keep the limit the worker wrote.
pub const UNSET_MAX_ATTEMPTS: i32 = i32::MAX;

/// The attempt limit that applies to a row whose `max_attempts` is `row_max`, for a worker
/// whose policy allows `policy_max`: the row's once a worker wrote one, else the policy's.
/// What the console and the admin lists show.
pub fn attempt_limit(row_max: i32, policy_max: i32) -> i32 {
    if row_max == UNSET_MAX_ATTEMPTS {
        policy_max
    } else {
        row_max
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
    let payload = serde_json::to_vec(task).expect("an outbox task always serialises");
    sqlx::query(
        r#"
        INSERT INTO apalis.jobs
            (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
        VALUES ($1, $2, $3, 'Pending', 0, $4, now(), 0, $5)
        ON CONFLICT (job_type, idempotency_key) DO UPDATE
            SET status = 'Pending', attempts = 0, run_at = now(),
                lock_by = NULL, lock_at = NULL, done_at = NULL
            WHERE (apalis.jobs.status = 'Failed' AND apalis.jobs.attempts >= apalis.jobs.max_attempts)
               OR apalis.jobs.status = 'Killed'
        "#,
    )
    .bind(ulid::Ulid::new().to_string())
    .bind(QUEUE)
    .bind(payload)
    .bind(UNSET_MAX_ATTEMPTS)
    .bind(task.idempotency_key())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
