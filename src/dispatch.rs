//! Dispatch jobs (`h2s_dispatch_jobs`): the technician visit. Exactly one per order.

use serde::Serialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    orders::{OrderId, OrderStatus},
    recipients,
};

/// The status of a dispatch job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    AwaitingPayment,
    Ready,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::AwaitingPayment => "awaiting_payment",
            JobStatus::Ready => "ready",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The job status an order's payment status implies.
    pub fn for_order(status: OrderStatus) -> Self {
        match status {
            OrderStatus::PendingPayment | OrderStatus::AwaitingPayment => {
                JobStatus::AwaitingPayment
            }
            OrderStatus::Paid => JobStatus::Ready,
            OrderStatus::PaymentFailed | OrderStatus::Expired | OrderStatus::Failed => {
                JobStatus::Cancelled
            }
        }
    }
}

/// The order row as `ensure_job` reads it, under lock.
#[derive(sqlx::FromRow)]
struct LockedOrder {
    status: String,
    dispatch_job_id: Option<Uuid>,
    customer_email: String,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    service_address: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnsureJobError {
    #[error("order {0} does not exist")]
    NoSuchOrder(OrderId),
    #[error("order {0} has a status this system does not know")]
    UnknownStatus(OrderId),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// THE function that creates dispatch jobs; the worker, the webhook's outbox task and the
/// reconciler all come here. It returns the order's job, creating it (and the recipient) if
/// missing, and links it through `h2s_orders.dispatch_job_id`.
///
/// Safe twice and concurrently: the order row is locked first (`FOR UPDATE`), so callers for
/// one order run one after the other and the second finds the job of the first; the
/// `UNIQUE (order_id)` on jobs is the last line should anything bypass the lock.
#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub async fn ensure_job(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Uuid, EnsureJobError> {
    let order: Option<LockedOrder> = sqlx::query_as(
        r#"
        SELECT status, dispatch_job_id, customer_email, customer_name, customer_phone,
               metadata_json->>'service_address' AS service_address
        FROM h2s_orders
        WHERE order_id = $1
        FOR UPDATE
        "#,
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    let order = order.ok_or_else(|| EnsureJobError::NoSuchOrder(order_id.clone()))?;
    let status = OrderStatus::parse(&order.status)
        .ok_or_else(|| EnsureJobError::UnknownStatus(order_id.clone()))?;
    if let Some(job_id) = order.dispatch_job_id {
        sync_status(tx, order_id, status).await?;
        return Ok(job_id);
    }
    let recipient_id = recipients::resolve(
        tx,
        &order.customer_email,
        order.customer_name.as_deref(),
        order.customer_phone.as_deref(),
    )
    .await?;
    // An order with no link may still have a job (one the old backend wrote): the conflict
    // on UNIQUE (order_id) links that one instead of creating a second (`xmax = 0` only for a
    // row this statement inserted).
    let (job_id, inserted): (Uuid, bool) = sqlx::query_as(
        r#"
        INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status, service_address)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (order_id) DO UPDATE SET updated_at = h2s_dispatch_jobs.updated_at
        RETURNING job_id, (xmax = 0)
        "#,
    )
    .bind(Uuid::new_v4())
    .bind(order_id)
    .bind(recipient_id)
    .bind(JobStatus::for_order(status).as_str())
    .bind(order.service_address)
    .fetch_one(&mut **tx)
    .await?;
    // The link is written both ways in one statement: the column (indexed, the source of
    // truth) and `metadata_json.dispatch_job_id`, where the admin portal and the operators'
    // runbook queries read it.
    sqlx::query(
        r#"
        UPDATE h2s_orders
        SET dispatch_job_id = $2,
            metadata_json = jsonb_set(COALESCE(metadata_json, '{}'::jsonb),
                                      '{dispatch_job_id}', to_jsonb($2::text)),
            updated_at = now()
        WHERE order_id = $1
        "#,
    )
    .bind(order_id)
    .bind(job_id)
    .execute(&mut **tx)
    .await?;
    if inserted {
        tracing::info!(%job_id, "dispatch job created");
    } else {
        sync_status(tx, order_id, status).await?;
        tracing::info!(%job_id, "existing dispatch job linked");
    }
    Ok(job_id)
}

/// Brings an existing job in line with its order's payment status (a paid order's job becomes
/// `ready`; an expired or failed one's `cancelled`). No job yet: nothing to do here, the
/// outbox's `EnsureDispatchJob` creates it with the right status.
pub async fn sync_status(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    order_status: OrderStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"
        UPDATE h2s_dispatch_jobs SET status = $2, updated_at = now()
        WHERE order_id = $1 AND status IN ('awaiting_payment', 'ready') AND status <> $2
        "#,
    )
    .bind(order_id)
    .bind(JobStatus::for_order(order_status).as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl From<EnsureJobError> for crate::outbox::TaskError {
    fn from(e: EnsureJobError) -> Self {
        match e {
            EnsureJobError::Database(e) => e.into(),
            other => crate::outbox::TaskError::Permanent(other.to_string()),
        }
    }
}
