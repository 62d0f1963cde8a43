//! A hold (manual capture, issue 34), from the operator's side: completing the job captures
//! it, cancelling the job releases it, and a lapsed one gets a new payment link. Each decides
//! under the order's lock and writes its outbox task in the same transaction; the worker's
//! steps (`hold_steps`) ask Stripe, and record its answer as the answer's event would be.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::event::apply_event;
use crate::{
    dispatch::{
        self, JobEvent, MoveError, Refused,
        actions::{self, JobView},
    },
    orders::{
        OrderId, OrderStatus, hold,
        transition::{Amounts, PaymentEvent},
    },
    outbox::{self, OutboxTask},
};

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("no dispatch job has this id")]
    NoSuchJob,
    #[error("no order has this id")]
    NoSuchOrder,
    #[error(transparent)]
    Refused(Refused),
    /// A held order's refund while its visit is booked, without `override_dispatched`.
    #[error(
        "the job is scheduled: set override_dispatched to cancel the visit and release the hold"
    )]
    JobScheduled,
    /// The job's completion asked for the capture already: one capture per payment.
    #[error("the job was completed and its payment captured (or being captured) already")]
    CaptureAsked,
    /// `amount` over the hold, or not positive.
    #[error("amount must be from 1 to the amount held ({held})")]
    AmountOverHold { held: i64 },
    /// `amount` for an order whose payment is not held.
    #[error("amount is only for an order whose payment is held (authorized)")]
    NotHeld,
    /// A new payment link for an order whose hold did not lapse.
    #[error("the order's hold has not lapsed (it is {0}): no new payment link")]
    NotLapsed(String),
    #[error(transparent)]
    Apply(#[from] super::ApplyError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<MoveError> for HoldError {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Refused(r) => HoldError::Refused(r),
            MoveError::Database(d) => HoldError::Database(d),
        }
    }
}

/// The job's order, locked (first, as on every path).
async fn lock_job_order(
    tx: &mut Transaction<'_, Postgres>,
    job_id: Uuid,
) -> Result<hold::HoldView, HoldError> {
    let order_id: Option<OrderId> = sqlx::query_scalar(
        r#"
        SELECT o.order_id FROM h2s_orders o JOIN h2s_dispatch_jobs j USING (order_id)
        WHERE j.job_id = $1
        FOR UPDATE OF o
        "#,
    )
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await?;
    let order_id = order_id.ok_or(HoldError::NoSuchJob)?;
    hold::lock(tx, &order_id).await?.ok_or(HoldError::NoSuchJob)
}

/// The visit is done. For an order whose payment is held, the job's completion asks for its
/// capture (of `amount`, at most the hold; all of it by default), once: the capture task is
/// written with the move, and a second completion is refused. Any other order's job
/// completes as it always did.
#[tracing::instrument(skip_all, fields(%job_id))]
pub async fn complete(
    pool: &PgPool,
    job_id: Uuid,
    amount: Option<i64>,
) -> Result<JobView, HoldError> {
    let mut tx = pool.begin().await?;
    let order = lock_job_order(&mut tx, job_id).await?;
    if order.capture_requested_at.is_some() {
        return Err(HoldError::CaptureAsked);
    }
    let held = order.status.known() == Some(OrderStatus::Authorized);
    if held {
        let hold = order.held().unwrap_or(0);
        let amount = amount.unwrap_or(hold);
        if amount <= 0 || amount > hold {
            return Err(HoldError::AmountOverHold { held: hold });
        }
        dispatch::transition::apply(&mut tx, &order.order_id, &JobEvent::Complete).await?;
        hold::request_capture(&mut tx, &order.order_id, amount).await?;
        let task = OutboxTask::Capture {
            order_id: order.order_id.clone(),
            attempt: order.pay_attempt,
        };
        outbox::enqueue(&mut tx, &task).await?;
        tracing::info!(amount, "job completed: the hold's capture asked");
    } else if amount.is_some() {
        return Err(HoldError::NotHeld);
    } else {
        dispatch::transition::apply(&mut tx, &order.order_id, &JobEvent::Complete).await?;
    }
    let view = actions::view(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// The visit is called off. For an order whose payment is held, the hold is released with
/// it (the order becomes `released` when Stripe confirms).
#[tracing::instrument(skip_all, fields(%job_id))]
pub async fn cancel(pool: &PgPool, job_id: Uuid, reason: &str) -> Result<JobView, HoldError> {
    let mut tx = pool.begin().await?;
    let order = lock_job_order(&mut tx, job_id).await?;
    let moved =
        dispatch::transition::apply(&mut tx, &order.order_id, &JobEvent::Cancel { reason }).await?;
    if moved.is_some() && order.status.known() == Some(OrderStatus::Authorized) {
        release(&mut tx, &order).await?;
    }
    let view = actions::view(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Asks for the hold's release (once), in the caller's transaction under the order's lock.
pub async fn release(
    tx: &mut Transaction<'_, Postgres>,
    order: &hold::HoldView,
) -> Result<(), sqlx::Error> {
    if hold::request_release(tx, &order.order_id).await? {
        let task = OutboxTask::Release {
            order_id: order.order_id.clone(),
            attempt: order.pay_attempt,
        };
        outbox::enqueue(tx, &task).await?;
        tracing::info!(order_id = %order.order_id, "the hold's release asked");
    }
    Ok(())
}

/// An operator's refund of an order whose payment is only held: nothing was taken, so
/// nothing is refunded; the hold is released instead (no refund object at Stripe), and the
/// order becomes `released` (its job `cancelled`) when Stripe confirms. As for a paid
/// order's refund, a `scheduled` visit is refused unless `visit.override_dispatched`, and
/// then cancelled at once: no technician goes to a customer whose payment was let go.
/// `false` when the order's payment is not held: the refund takes its own path.
#[tracing::instrument(skip_all, fields(%order_id))]
pub async fn refund_held(
    pool: &PgPool,
    order_id: &OrderId,
    visit: HeldVisit<'_>,
) -> Result<bool, HoldError> {
    let mut tx = pool.begin().await?;
    let Some(order) = hold::lock(&mut tx, order_id).await? else {
        return Err(HoldError::NoSuchOrder);
    };
    if order.status.known() != Some(OrderStatus::Authorized) {
        return Ok(false);
    }
    if order.capture_requested_at.is_some() {
        return Err(HoldError::CaptureAsked);
    }
    let job = dispatch::job_status(&mut tx, order_id).await?;
    if job.and_then(|s| s.known()) == Some(dispatch::JobStatus::Scheduled) {
        if !visit.override_dispatched {
            return Err(HoldError::JobScheduled);
        }
        let cancel = JobEvent::Cancel {
            reason: visit.reason,
        };
        dispatch::transition::apply(&mut tx, order_id, &cancel).await?;
    }
    release(&mut tx, &order).await?;
    tx.commit().await?;
    Ok(true)
}

/// What an operator's refund says of the visit, for a held order's release.
#[derive(Debug, Clone, Copy)]
pub struct HeldVisit<'a> {
    /// The refund's reason: a scheduled visit cancelled is cancelled with it.
    pub reason: &'a str,
    /// Cancel a `scheduled` visit (else the release is refused).
    pub override_dispatched: bool,
}

/// An order's payment link, as `pay-link` answers.
#[derive(Debug, Clone)]
pub struct PayLink {
    pub order_id: OrderId,
    pub attempt: i32,
    pub status: OrderStatus,
    pub session_id: Option<String>,
    pub session_url: Option<String>,
}

/// A new Checkout Session for a lapsed hold's order, once per lapse: the order waits for
/// its payment again (`pending_payment`, its job on hold until it is paid), and the worker
/// creates the session under the new attempt's own idempotency key. Asked again before the
/// new attempt is paid or lapses, the same attempt's link is answered.
#[tracing::instrument(skip_all, fields(%order_id))]
pub async fn pay_link(pool: &PgPool, order_id: &OrderId) -> Result<PayLink, HoldError> {
    let mut tx = pool.begin().await?;
    let order = hold::lock(&mut tx, order_id)
        .await?
        .ok_or(HoldError::NoSuchOrder)?;
    let status = order.status.known();
    let attempt = match status {
        Some(OrderStatus::AuthorizationExpired) => {
            let attempt = hold::new_attempt(&mut tx, order_id).await?;
            let none = Amounts::default();
            apply_event(&mut tx, order_id, PaymentEvent::NewPayLink, &none, None).await?;
            let task = OutboxTask::PayLink {
                order_id: order_id.clone(),
                attempt,
            };
            outbox::enqueue(&mut tx, &task).await?;
            tracing::info!(attempt, "a new payment link asked for a lapsed hold");
            attempt
        }
        Some(OrderStatus::PendingPayment | OrderStatus::AwaitingPayment)
            if order.pay_attempt > 0 =>
        {
            order.pay_attempt
        }
        other => {
            let now = other.map_or("unknown", |s| s.as_str());
            return Err(HoldError::NotLapsed(now.to_owned()));
        }
    };
    let (status, session_id, session_url): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            r#"SELECT status, stripe_session_id, stripe_session_url FROM h2s_orders WHERE order_id = $1"#,
        )
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(PayLink {
        order_id: order_id.clone(),
        attempt,
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::PendingPayment),
        session_id,
        session_url,
    })
}
