//! How the domain's errors end a task's attempt: a database error is retried (or waited
//! out, for an outage), anything else fails the task for good. Held here, by the app's jobs,
//! rather than by the domain, which knows nothing of the queue; the conversions serve every
//! task step's `?` (`checkout::fulfil`, `refunds::task`).

use crate::{dispatch::EnsureJobError, payments::ApplyError, queue::TaskError};

impl From<EnsureJobError> for TaskError {
    fn from(e: EnsureJobError) -> Self {
        match e {
            EnsureJobError::Database(e) => e.into(),
            other => TaskError::permanent_from(other),
        }
    }
}

impl From<ApplyError> for TaskError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Database(e) => e.into(),
            other => TaskError::permanent_from(other),
        }
    }
}
