//! How an attempt fails, and the attempt budget a row carries.

use std::time::Duration;

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
