//! The dispatcher's actions on a job, by its id (the admin routes and the console): each in
//! its own transaction, the order's row locked first as on every other path, and the move
//! made by the one job transition function.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    JobStatus,
    transition::{self, JobEvent, MoveError, Refused},
};
use crate::{orders::OrderId, stored::Stored};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no dispatch job has this id")]
    NoSuchJob,
    #[error(transparent)]
    Refused(Refused),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<MoveError> for ActionError {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Refused(r) => ActionError::Refused(r),
            MoveError::Database(d) => ActionError::Database(d),
        }
    }
}

/// A job as the admin routes answer it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobView {
    pub job_id: Uuid,
    pub order_id: OrderId,
    pub status: Stored<JobStatus>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub technician: Option<String>,
    pub cancel_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Applies the dispatcher's `event` to the job `job_id`; the job as it is afterwards (also
/// when the action changed nothing: a repeated `complete` or `cancel`).
#[tracing::instrument(skip_all, fields(%job_id))]
pub async fn act(
    pool: &PgPool,
    job_id: Uuid,
    event: &JobEvent<'_>,
) -> Result<JobView, ActionError> {
    let mut tx = pool.begin().await?;
    let order_id: Option<OrderId> = sqlx::query_scalar(
        r#"
        SELECT o.order_id FROM h2s_orders o JOIN h2s_dispatch_jobs j USING (order_id)
        WHERE j.job_id = $1
        FOR UPDATE OF o
        "#,
    )
    .bind(job_id)
    .fetch_optional(&mut *tx)
    .await?;
    let order_id = order_id.ok_or(ActionError::NoSuchJob)?;
    transition::apply(&mut tx, &order_id, event).await?;
    let view = view(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// The job as the admin routes show it.
pub async fn view(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    job_id: Uuid,
) -> Result<JobView, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT job_id, order_id, status, window_start, window_end, technician, cancel_reason,
               updated_at
        FROM h2s_dispatch_jobs WHERE job_id = $1
        "#,
    )
    .bind(job_id)
    .fetch_one(&mut **tx)
    .await
}
