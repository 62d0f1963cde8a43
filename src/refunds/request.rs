//! Writing a refund request: the guards, the row, the job's cancellation and the outbox task,
//! in one transaction under the order's lock (so two requests for one order are decided one
//! after the other, each counting the other's money in flight).

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{
    guards::{self, OrderMoney, Refusal},
    new::{NewRefund, RefundRequestId},
};
use crate::{
    alerts::{self, AlertKind},
    checkout::IdempotencyKey,
    dispatch::{self, JobEvent, MoveError},
    orders::OrderId,
    outbox::{self, OutboxTask},
    payments::{
        hold::{self, HoldError},
        refund_requests::{self, NewRequest},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no order has this id")]
    NoSuchOrder,
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The operator's `Idempotency-Key` made this request already.
    #[error("this Idempotency-Key already made refund request {0}")]
    Duplicate(RefundRequestId),
    #[error("this Idempotency-Key was used for another refund request")]
    KeyReused,
    #[error(transparent)]
    Job(dispatch::Refused),
    /// A held payment's release refused (its capture was asked already).
    #[error(transparent)]
    Hold(HoldError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<HoldError> for RefundError {
    fn from(e: HoldError) -> Self {
        match e {
            HoldError::NoSuchOrder => RefundError::NoSuchOrder,
            HoldError::Database(d) => RefundError::Database(d),
            HoldError::JobScheduled => RefundError::Refused(Refusal::JobScheduled),
            other => RefundError::Hold(other),
        }
    }
}

/// What an operator's refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A refund request, carried out by the worker.
    Requested(RefundRequestId),
    /// The payment was only held (`authorized`): nothing was taken, so nothing is refunded;
    /// the hold is released instead, and the order becomes `released` when Stripe confirms.
    Releasing,
}

/// An operator's refund, from the admin API or the console alike: a held payment's hold
/// released, any other payment's refund requested ([`request`]).
pub async fn refund_or_release(
    pool: &PgPool,
    order_id: &OrderId,
    new: &NewRefund,
    key: Option<&IdempotencyKey>,
) -> Result<Asked, RefundError> {
    let visit = hold::HeldVisit {
        reason: &new.reason,
        override_dispatched: new.override_dispatched,
    };
    if hold::refund_held(pool, order_id, visit).await? {
        return Ok(Asked::Releasing);
    }
    request(pool, order_id, new, key)
        .await
        .map(Asked::Requested)
}

impl From<MoveError> for RefundError {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Refused(r) => RefundError::Job(r),
            MoveError::Database(d) => RefundError::Database(d),
        }
    }
}

/// Writes the refund request and its outbox task, or refuses with nothing written.
#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub async fn request(
    pool: &PgPool,
    order_id: &OrderId,
    new: &NewRefund,
    key: Option<&IdempotencyKey>,
) -> Result<RefundRequestId, RefundError> {
    let mut tx = pool.begin().await?;
    if let Some(key) = key {
        check_key(&mut tx, order_id, new, key).await?;
    }
    let order = lock_order(&mut tx, order_id).await?;
    let job = dispatch::job_status(&mut tx, order_id).await?;
    let decision = guards::decide(&order, job.as_ref(), new)?;
    let id = RefundRequestId(Uuid::new_v4());
    let row = NewRequest {
        id: id.0,
        order_id,
        amount: decision.amount,
        reason: &new.reason,
        cancel_job: decision.cancel_job,
        override_dispatched: new.override_dispatched,
        idempotency: key.map(|k| (k.as_str(), new.hash())),
    };
    refund_requests::insert(&mut tx, &row).await?;
    if decision.cancel_job {
        let cancel = JobEvent::Cancel {
            reason: &new.reason,
        };
        dispatch::transition::apply(&mut tx, order_id, &cancel).await?;
    }
    if decision.alert_completed {
        let detail = format!(
            "refund of {} cents requested while the job is completed: the job was left as it is",
            decision.amount
        );
        alerts::raise(
            &mut tx,
            order_id,
            AlertKind::MoneyBackAfterDispatch,
            &detail,
        )
        .await?;
    }
    let task = OutboxTask::Refund {
        order_id: order_id.clone(),
        refund_request_id: id.0,
    };
    outbox::enqueue(&mut tx, &task).await?;
    tx.commit().await?;
    tracing::info!(refund_request_id = %id, amount = decision.amount, cancel_job = decision.cancel_job, "refund requested");
    Ok(id)
}

/// A key seen before is a repeat (the same request) or a misuse (another one): refused
/// either way. Requests with one key wait for each other here.
async fn check_key(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    new: &NewRefund,
    key: &IdempotencyKey,
) -> Result<(), RefundError> {
    sqlx::query(r#"SELECT pg_advisory_xact_lock(hashtextextended('refund-key:' || $1, 0))"#)
        .bind(key.as_str())
        .execute(&mut **tx)
        .await?;
    let seen: Option<(RefundRequestId, Option<String>, OrderId)> = sqlx::query_as(
        r#"
        SELECT refund_request_id, request_hash, order_id FROM h2s_refund_requests
        WHERE idempotency_key = $1
        "#,
    )
    .bind(key.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    match seen {
        None => Ok(()),
        Some((id, hash, order)) if &order == order_id && hash.as_deref() == Some(&new.hash()) => {
            Err(RefundError::Duplicate(id))
        }
        Some(_) => Err(RefundError::KeyReused),
    }
}

/// Locks the order, then reads its money. Two statements: a statement that waited for the
/// lock sees the locked row's new version but its subqueries keep the snapshot taken before
/// the wait, so the requests a concurrent request just committed would be missed.
async fn lock_order(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<OrderMoney, RefundError> {
    let found = sqlx::query(r#"SELECT 1 FROM h2s_orders WHERE order_id = $1 FOR UPDATE"#)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    if found.is_none() {
        return Err(RefundError::NoSuchOrder);
    }
    let order: OrderMoney = sqlx::query_as(
        r#"
        SELECT status, COALESCE(amount_captured, amount_total) AS amount_charged, amount_refunded,
               stripe_payment_intent_id AS payment_intent,
               (SELECT COALESCE(sum(amount), 0)::bigint FROM h2s_refund_requests r
                WHERE r.order_id = o.order_id AND r.status = 'requested') AS in_flight
        FROM h2s_orders o WHERE order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(order)
}
