//! THE way a dispatch job's status changes, as orders have `orders::transition`: the payment
//! of its order (the status it implies) and the dispatcher's actions (schedule, complete,
//! cancel) are events of one function, [`next`], and one writer, [`apply`], which records
//! every move in `h2s_job_moves` (the timeline). A row an older portal changed by SQL is read
//! as it is: its status decides, as any other's.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::JobStatus;
use crate::{events, orders::OrderId, orders::OrderStatus, stored::Stored};

/// A visit's time window and technician (a reference in the portal's staff list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub technician: String,
}

/// Something that happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent<'a> {
    /// The order's payment status is now this: the job takes the status it implies.
    Payment(OrderStatus),
    /// The dispatcher books (or rebooks) the visit.
    Schedule(&'a Visit),
    /// The technician did the job.
    Complete,
    /// An operator calls the visit off.
    Cancel { reason: &'a str },
}

impl JobEvent<'_> {
    fn cause(&self) -> &'static str {
        match self {
            JobEvent::Payment(_) => "payment",
            JobEvent::Schedule(_) => "scheduled by the dispatcher",
            JobEvent::Complete => "completed by the dispatcher",
            JobEvent::Cancel { .. } => "cancelled by an operator",
        }
    }

    /// The order's payment status, when that is what moves the job.
    fn payment(&self) -> Option<OrderStatus> {
        match self {
            JobEvent::Payment(status) => Some(*status),
            _ => None,
        }
    }
}

/// Why the dispatcher's action cannot be done (a 409 at the API). Payment events are never
/// refused: what they cannot move they leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the job's order is not paid yet")]
    NotPaid,
    #[error("the job is on hold while its payment is disputed: the dispute's outcome releases it")]
    OnHold,
    #[error("the job is completed: it cannot move any more")]
    Completed,
    #[error("the job is cancelled")]
    Cancelled,
    #[error("the job is not scheduled: schedule it first")]
    NotScheduled,
    #[error("the job has a status this system does not know: changed by hand, it needs a human")]
    UnknownStatus,
}

/// The job as [`next`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobNow {
    pub status: JobStatus,
    /// What a job `on_hold` was held from (a won dispute gives a `scheduled` visit back).
    pub held_from: Option<JobStatus>,
    /// Cancelled by an operator (with a reason): no payment event revives it.
    pub operator_cancelled: bool,
}

/// The job's next status (`Some` also for a rebooking, `scheduled` to `scheduled`), `None`
/// when the event leaves it as it is. A payment moves a job only along `moves_from` (never
/// out of `completed`, out of `scheduled` only into a hold or by the loss of a dispute, never
/// an operator's cancellation); the dispatcher's actions are refused where they make no
/// sense.
pub fn next(now: JobNow, event: &JobEvent<'_>) -> Result<Option<JobStatus>, Refused> {
    use JobStatus as J;
    let status = now.status;
    let refused = |status: JobStatus| match status {
        J::AwaitingPayment => Refused::NotPaid,
        J::OnHold => Refused::OnHold,
        J::Completed => Refused::Completed,
        J::Cancelled => Refused::Cancelled,
        J::Ready | J::Scheduled => Refused::NotScheduled,
    };
    Ok(match event {
        JobEvent::Payment(order) => {
            let target = JobStatus::for_order(*order);
            if now.operator_cancelled || status == target {
                None
            } else if target == J::Ready
                && status == J::OnHold
                && now.held_from == Some(J::Scheduled)
            {
                Some(J::Scheduled)
            } else if *order == OrderStatus::AuthorizationExpired && status == J::Scheduled {
                // A lapsed hold leaves a booked visit booked: the dispatcher decides (an
                // operator is alerted, and a new payment link can be sent).
                None
            } else if *order == OrderStatus::DisputeLost && status == J::Scheduled {
                // A lost dispute was opened first, and its opening holds a scheduled visit
                // that its loss then cancels: when the close is read before the opening (the
                // events arrive in any order), the visit ends cancelled all the same.
                Some(J::Cancelled)
            } else {
                target
                    .moves_from()
                    .contains(&status.as_str())
                    .then_some(target)
            }
        }
        JobEvent::Schedule(_) => match status {
            J::Ready | J::Scheduled => Some(J::Scheduled),
            other => return Err(refused(other)),
        },
        JobEvent::Complete => match status {
            J::Scheduled => Some(J::Completed),
            J::Completed => None,
            other => return Err(refused(other)),
        },
        JobEvent::Cancel { .. } => match status {
            J::AwaitingPayment | J::Ready | J::Scheduled => Some(J::Cancelled),
            J::Cancelled => None,
            other => return Err(refused(other)),
        },
    })
}

/// A job's move: `(job_id, from, to)`.
pub type Moved = (Uuid, JobStatus, JobStatus);

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct JobRow {
    job_id: Uuid,
    status: Stored<JobStatus>,
    held_from: Option<String>,
    cancel_reason: Option<String>,
}

/// Applies `event` to the order's job (none yet: nothing to do) under its row lock, inside
/// the caller's transaction (which holds the order's lock first, as every path does). A job
/// whose status this system does not know is left alone by payments and refused to the
/// dispatcher. Every move is told to the event feed (`job.*`), in the same transaction.
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    event: &JobEvent<'_>,
) -> Result<Option<Moved>, MoveError> {
    let row: Option<JobRow> = sqlx::query_as(
        r#"
        SELECT job_id, status, held_from, cancel_reason FROM h2s_dispatch_jobs
        WHERE order_id = $1 FOR UPDATE
        "#,
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(status) = row.status.known() else {
        return match event {
            JobEvent::Payment(_) => Ok(None),
            _ => Err(Refused::UnknownStatus.into()),
        };
    };
    let now = JobNow {
        status,
        held_from: row.held_from.as_deref().and_then(JobStatus::parse),
        operator_cancelled: status == JobStatus::Cancelled && row.cancel_reason.is_some(),
    };
    let Some(to) = next(now, event)? else {
        return Ok(None);
    };
    write(tx, row.job_id, status, to, event).await?;
    if let Some(told) = super::told::job_move(status, to, event.payment()) {
        events::record(tx, order_id, told).await?;
    }
    Ok(Some((row.job_id, status, to)))
}

async fn write(
    tx: &mut Transaction<'_, Postgres>,
    job_id: Uuid,
    from: JobStatus,
    to: JobStatus,
    event: &JobEvent<'_>,
) -> Result<(), sqlx::Error> {
    let visit = match event {
        JobEvent::Schedule(visit) => Some(*visit),
        _ => None,
    };
    let (reason, detail) = match event {
        JobEvent::Cancel { reason } => (Some(*reason), Some(reason.to_string())),
        JobEvent::Schedule(v) => (
            None,
            Some(format!(
                "{} to {}, technician {}",
                v.window_start, v.window_end, v.technician
            )),
        ),
        JobEvent::Payment(order) => (None, Some(format!("order {}", order.as_str()))),
        JobEvent::Complete => (None, None),
    };
    // The move and its record, in one statement (one round trip).
    sqlx::query(
        r#"
        WITH moved AS (
            UPDATE h2s_dispatch_jobs
            SET status = $2,
                held_from = CASE WHEN $2 = 'on_hold' THEN status END,
                window_start = COALESCE($3, window_start),
                window_end = COALESCE($4, window_end),
                technician = COALESCE($5, technician),
                cancel_reason = CASE WHEN $2 = 'cancelled' THEN $6 END,
                updated_at = now()
            WHERE job_id = $1
            RETURNING job_id
        )
        INSERT INTO h2s_job_moves (job_id, from_status, to_status, cause, detail)
        SELECT job_id, $7, $2, $8, $9 FROM moved
        "#,
    )
    .bind(job_id)
    .bind(to.as_str())
    .bind(visit.map(|v| v.window_start))
    .bind(visit.map(|v| v.window_end))
    .bind(visit.map(|v| v.technician.as_str()))
    .bind(reason)
    .bind(from.as_str())
    .bind(event.cause())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    tracing::info!(%job_id, from = from.as_str(), to = to.as_str(), cause = event.cause(), "dispatch job moved");
    Ok(())
}

#[cfg(test)]
mod tests;
