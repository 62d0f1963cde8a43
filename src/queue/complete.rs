//! How an attempt's end reaches its row, in one write.
//!
//! A job may complete itself inside the transaction of its effects (River's `JobCompleteTx`):
//! [`Attempt::complete_in`] marks the row `Done` in the caller's transaction, so the work and
//! its acknowledgement commit together, once, and the runner writes nothing more. Any other
//! end (a success that did not complete itself, a failure, a death) the runner writes itself,
//! in one statement: status, attempts, result and, for a retry, when it runs again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

/// The attempt a job runs as: its row, and whether it completed itself.
#[derive(Clone, Debug)]
pub struct Attempt {
    task_id: Arc<str>,
    worker: Arc<str>,
    number: i32,
    completed: Arc<AtomicBool>,
}

impl Attempt {
    /// The attempt `number` (1 for the first) of the row `task_id`, claimed by `worker`.
    pub fn new(task_id: &str, worker: impl Into<Arc<str>>, number: i32) -> Self {
        Self {
            task_id: task_id.into(),
            worker: worker.into(),
            number,
            completed: Arc::default(),
        }
    }

    /// The attempt's number, 1 for the first.
    pub fn number(&self) -> i32 {
        self.number
    }

    /// Marks the row `Done` inside `conn`'s transaction: the job's effects and its
    /// acknowledgement commit together. The job must then commit that transaction and return
    /// `Ok`; should it fail after all, the runner records the failure as for any other. A row
    /// re-claimed by another worker meanwhile (this one was declared dead) is left to it: the
    /// work is idempotent.
    pub async fn complete_in(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(DONE_SQL)
            .bind(&*self.task_id)
            .bind(&*self.worker)
            .bind(self.number)
            .execute(conn)
            .await?;
        self.completed.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether the job completed itself (so that a success needs no write of the runner's).
    pub(super) fn completed(&self) -> bool {
        self.completed.load(Ordering::Acquire)
    }
}

const DONE_SQL: &str = r#"
    UPDATE apalis.jobs
    SET status = 'Done', attempts = $3, last_result = '{"Ok": null}', done_at = now()
    WHERE id = $1 AND lock_by = $2
"#;

/// How an attempt ended, as its row records it.
pub(super) enum End {
    Done,
    /// Failed; runs again after `retry_in` (`None`: when `run_at` says) while attempts are
    /// below `max_attempts`.
    Failed {
        error: String,
        retry_in: Option<Duration>,
        max_attempts: i32,
    },
    /// Never runs again (until revived).
    Killed {
        error: String,
    },
}

impl End {
    fn status(&self) -> &'static str {
        match self {
            End::Done => "Done",
            End::Failed { .. } => "Failed",
            End::Killed { .. } => "Killed",
        }
    }

    fn result(&self) -> Value {
        match self {
            End::Done => json!({ "Ok": null }),
            End::Failed { error, .. } | End::Killed { error } => json!({ "Err": error }),
        }
    }
}

/// Writes the attempt's end to its row (the one this worker still holds), retrying through
/// a database outage: until it lands, the row stays claimed by this worker, and a shutdown
/// hands it back to run again.
pub(super) async fn record(pool: &PgPool, attempt: &Attempt, end: End) {
    let (retry_in, max_attempts) = match &end {
        End::Failed {
            retry_in,
            max_attempts,
            ..
        } => (retry_in.map(|d| d.as_secs_f64()), Some(*max_attempts)),
        _ => (None, None),
    };
    let mut pause = Duration::from_millis(100);
    loop {
        let written = sqlx::query(
            r#"
            UPDATE apalis.jobs
            SET status = $3, attempts = $4, last_result = $5, done_at = now(),
                run_at = COALESCE(now() + make_interval(secs => $6), run_at),
                max_attempts = COALESCE($7, max_attempts)
            WHERE id = $1 AND lock_by = $2
            "#,
        )
        .bind(&*attempt.task_id)
        .bind(&*attempt.worker)
        .bind(end.status())
        .bind(attempt.number)
        .bind(end.result())
        .bind(retry_in)
        .bind(max_attempts)
        .execute(pool)
        .await;
        match written {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not record the task attempt's end: trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
