//! One attempt of one task, as the tower service apalis calls.
//!
//! This service writes the attempt's end to the row itself (apalis's own writes of starts
//! and completions are off: `complete`), in one statement or none: a job that completed
//! itself in its own transaction ([`super::Attempt::complete_in`]) needs no more; another
//! success is `Done`; a permanent failure `Killed` (never fetched again); any other failure
//! `Failed` with `attempts` bumped and `run_at` moved into the future (apalis has no
//! backoff), which the fetch takes again once `run_at` has passed while
//! `attempts < max_attempts`. The schedule is in the database: it survives a crash of this
//! process.

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use apalis::prelude::{AbortError, BoxDynError, Task};
use futures::{FutureExt, future::BoxFuture};
use sqlx::PgPool;
use tracing::Instrument;

use super::{Cause, TaskError, handler::Job};
use super::{
    complete::{Attempt, End, record},
    handler::{Observer, TaskHandler},
    retry::{RetryPolicy, Verdict},
    slots::InFlight,
};

/// The payload is taken as raw JSON and parsed here rather than by apalis's codec: a row
/// apalis cannot decode is a backend error that stops the whole worker (and, re-claimed
/// after the restart, stops the next one), while here it only kills that one row.
pub(super) type Payload = serde_json::Value;

/// A failed attempt that may be retried.
struct Failure {
    reason: String,
    retry_after: Option<Duration>,
    source: Option<Cause>,
    /// Not the task's fault: never counted towards its death.
    outage: bool,
    /// The task's kind, for the dead-task counter.
    kind: &'static str,
}

pub(super) struct JobService<H> {
    handler: H,
    pool: PgPool,
    retry: RetryPolicy,
    worker: Arc<str>,
    /// The longest one attempt may run (`WORKER_TASK_TIMEOUT_MS`).
    task_timeout: Duration,
    /// What the fetcher sizes its claims by: an attempt holds a slot until it ends.
    in_flight: InFlight,
    /// Told of every attempt and death (the app's metrics).
    observer: Arc<dyn Observer>,
}

impl<H: Clone> Clone for JobService<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            pool: self.pool.clone(),
            retry: self.retry.clone(),
            worker: self.worker.clone(),
            task_timeout: self.task_timeout,
            in_flight: self.in_flight.clone(),
            observer: self.observer.clone(),
        }
    }
}

impl<H: TaskHandler> JobService<H> {
    pub(super) fn new(
        handler: H,
        pool: PgPool,
        retry: RetryPolicy,
        task_timeout: Duration,
        worker: &str,
        in_flight: InFlight,
        observer: Arc<dyn Observer>,
    ) -> Self {
        Self {
            handler,
            pool,
            retry,
            worker: worker.into(),
            task_timeout,
            in_flight,
            observer,
        }
    }

    async fn attempt(self, task: Task<Payload>) -> Result<(), BoxDynError> {
        // apalis bumps the attempt counter before it first polls this future: 1 = first try.
        let attempt = i32::try_from(task.attempt()).unwrap_or(i32::MAX);
        let task_id = task.task_id().map(ToString::to_string).unwrap_or_default();
        let (payload, _) = task.take();
        let job: H::Job = match serde_json::from_value(payload) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(task_id, attempt, error = %e, "undecodable task: killed");
                let error = AbortError::new(e);
                let attempt = Attempt::new(&task_id, self.worker.clone(), attempt);
                let end = End::Killed {
                    error: error.to_string(),
                };
                record(&self.pool, &attempt, end).await;
                return Err(Box::new(error));
            }
        };
        let span = job.span(&task_id, attempt);
        let attempt = Attempt::new(&task_id, self.worker.clone(), attempt);
        self.attempt_decoded(attempt, job).instrument(span).await
    }

    async fn attempt_decoded(self, attempt: Attempt, job: H::Job) -> Result<(), BoxDynError> {
        let started = Instant::now();
        let kind = job.kind();
        let run = AssertUnwindSafe(self.handler.handle(job, attempt.clone()))
            .catch_unwind()
            .map(|caught| {
                caught.unwrap_or_else(|panic| {
                    Err(TaskError::retryable(
                        format!("handler panicked: {}", panic_message(&panic)),
                        None,
                    ))
                })
            });
        let outcome = super::handler::bounded(run, self.task_timeout).await;
        // Counted here, where an attempt that outlived its timeout is seen too (an outage).
        self.observer.attempt(kind, failure_label(&outcome));
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outage = matches!(outcome, Err(TaskError::Outage { .. }));
        match outcome {
            Ok(()) => {
                if !attempt.completed() {
                    record(&self.pool, &attempt, End::Done).await;
                }
                tracing::info!(elapsed_ms, "outbox task done");
                Ok(())
            }
            Err(error @ TaskError::Permanent { .. }) => {
                tracing::error!(%error, elapsed_ms, "outbox task failed for good: not retried");
                self.observer.died(kind);
                let error = AbortError::new(error);
                let end = End::Killed {
                    error: error.to_string(),
                };
                record(&self.pool, &attempt, end).await;
                Err(Box::new(error))
            }
            Err(
                TaskError::Retryable {
                    reason,
                    retry_after,
                    source,
                }
                | TaskError::Outage {
                    reason,
                    retry_after,
                    source,
                },
            ) => {
                let failure = Failure {
                    reason,
                    retry_after,
                    source,
                    outage,
                    kind,
                };
                self.retry_later(&attempt, failure, elapsed_ms).await
            }
        }
    }

    /// Schedules the next attempt of a failed one (or lets the task die), and answers apalis.
    async fn retry_later(
        &self,
        attempt: &Attempt,
        failure: Failure,
        elapsed_ms: u64,
    ) -> Result<(), BoxDynError> {
        let Failure {
            reason,
            retry_after,
            source,
            outage,
            kind,
        } = failure;
        let Verdict { allowed, next_in } =
            self.retry
                .after_failure(attempt.number(), outage, retry_after);
        match next_in {
            // The outage itself is logged loudly, once a minute, where it is seen.
            Some(delay) if outage => tracing::debug!(
                error = %reason,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "outbox task waits out an outage",
            ),
            Some(delay) => tracing::warn!(
                error = %reason,
                elapsed_ms,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "outbox task attempt failed: will retry",
            ),
            None => {
                tracing::error!(
                    error = %reason,
                    elapsed_ms,
                    max_attempts = allowed,
                    "outbox task failed its last attempt: dead until re-enqueued",
                );
                self.observer.died(kind);
            }
        }
        let error = TaskError::Retryable {
            reason,
            retry_after,
            source,
        };
        let end = End::Failed {
            error: error.to_string(),
            retry_in: next_in,
            max_attempts: allowed,
        };
        record(&self.pool, attempt, end).await;
        Err(Box::new(error))
    }
}

impl<H: TaskHandler> tower::Service<Task<Payload>> for JobService<H> {
    type Response = ();
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<(), BoxDynError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Payload>) -> Self::Future {
        let slot = self.in_flight.take();
        self.clone()
            .attempt(task)
            .map(move |outcome| {
                drop(slot);
                outcome
            })
            .boxed()
    }
}

/// The attempt counter's `failure` label.
fn failure_label(outcome: &Result<(), TaskError>) -> Option<&'static str> {
    match outcome {
        Ok(()) => None,
        Err(TaskError::Retryable { .. }) => Some("retryable"),
        Err(TaskError::Outage { .. }) => Some("outage"),
        Err(TaskError::Permanent { .. }) => Some("permanent"),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
