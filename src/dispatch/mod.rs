//! Dispatch jobs (`h2s_dispatch_jobs`): the technician visit. Exactly one per order.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

pub mod actions;
mod status;
mod told;
pub mod transition;

pub use status::JobStatus;
pub use transition::{JobEvent, MoveError, Refused, Visit};

use crate::{
    events,
    orders::{self, OrderId, OrderStatus, SessionLink},
    recipients,
    stored::Stored,
};

/// The order row as `ensure_job` reads it, under lock, with its job (if the statement's
/// snapshot has one) and the links it holds.
#[derive(sqlx::FromRow)]
struct LockedOrder {
    status: Stored<OrderStatus>,
    customer_email: String,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    service_address: Option<String>,
    job_id: Option<Uuid>,
    linked_column: Option<Uuid>,
    linked_metadata: Option<String>,
}

impl LockedOrder {
    /// The order names `job_id` in both places.
    fn links(&self, job_id: Uuid) -> bool {
        self.linked_column == Some(job_id)
            && self.linked_metadata.as_deref() == Some(job_id.to_string().as_str())
    }
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

/// What `ensure_job` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ensured {
    pub job_id: Uuid,
    /// The job did not exist and was created.
    pub created: bool,
    /// The order did not name it in both places (column and metadata) and now does.
    pub linked: bool,
    /// Its status was brought in line with the order's (a paid order's job made `ready`).
    pub status_changed: bool,
    /// The order's status, read under the lock.
    pub order_status: OrderStatus,
}

impl Ensured {
    /// Anything was wrong and is now right.
    pub fn repaired(&self) -> bool {
        self.created || self.linked || self.status_changed
    }
}

/// THE function that creates dispatch jobs and holds the invariant: the worker, the webhook,
/// the Events API catch-up and the reconciler all come here. Afterwards the order has exactly
/// one job (its own, found by the `UNIQUE (order_id)` key, never a second one), named both in
/// `h2s_orders.dispatch_job_id` and in `metadata_json.dispatch_job_id`, with the status the
/// order implies: for a paid order `ready` (a `cancelled`, `awaiting_payment` or `on_hold`
/// job is revived; `scheduled` and `completed` are left alone), for a disputed one `on_hold`.
///
/// Safe twice and concurrently: the order row is locked first (`FOR UPDATE`), so callers for
/// one order run one after the other and the second finds the job of the first; the
/// `UNIQUE (order_id)` on jobs is the last line should anything bypass the lock.
#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub async fn ensure_job(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Ensured, EnsureJobError> {
    ensure(tx, order_id, None).await
}

/// [`ensure_job`] for a checkout's task with Stripe's answer: the session is stored, while
/// the order still waits for its payment, in the statement that links the job (one row
/// version, one round trip).
pub async fn ensure_job_with_session(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    session: &SessionLink<'_>,
) -> Result<Ensured, EnsureJobError> {
    ensure(tx, order_id, Some(session)).await
}

async fn ensure(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    session: Option<&SessionLink<'_>>,
) -> Result<Ensured, EnsureJobError> {
    // One round trip: the order, locked, with its job and links. The lock is taken on the
    // order's newest row, but a job is joined from the statement's snapshot, taken before a
    // wait for the lock: a job created by the transaction it waited for is not seen here,
    // and is found by `create_job`'s `ON CONFLICT (order_id)` instead.
    let order: Option<LockedOrder> = sqlx::query_as(
        r#"
        SELECT o.status, o.customer_email, o.customer_name, o.customer_phone,
               o.metadata_json->>'service_address' AS service_address,
               j.job_id, o.dispatch_job_id AS linked_column,
               o.metadata_json->>'dispatch_job_id' AS linked_metadata
        FROM h2s_orders o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id
        WHERE o.order_id = $1
        FOR UPDATE OF o
        "#,
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    let order = order.ok_or_else(|| EnsureJobError::NoSuchOrder(order_id.clone()))?;
    let status =
        (order.status.known()).ok_or_else(|| EnsureJobError::UnknownStatus(order_id.clone()))?;
    // The order's own job, whatever its row says it links.
    let (job_id, created) = match order.job_id {
        Some(job_id) => (job_id, false),
        None => create_job(tx, order_id, &order, status).await?,
    };
    let linked = !order.links(job_id);
    let session = session.filter(|_| status == OrderStatus::PendingPayment);
    if linked || session.is_some() {
        orders::link_job(tx, order_id, job_id, session).await?;
    }
    let status_changed = !created && sync_status(tx, order_id, status).await?;
    if created {
        tracing::info!(%job_id, "dispatch job created");
    } else if linked {
        // A link was wrong or missing: something (an old backend, a crash) bypassed this.
        tracing::warn!(%job_id, status_changed, "dispatch job link repaired");
    } else if status_changed {
        // The job following its order's status: what every payment event does.
        tracing::info!(%job_id, "dispatch job status follows its order");
    }
    Ok(Ensured {
        job_id,
        created,
        linked: linked && !created,
        status_changed,
        order_status: status,
    })
}

/// The id an order's job is created with, known before the job exists: the checkout's
/// Checkout Session carries it in its metadata, and every retry of the session's creation
/// sends the same one (a job created before ids were derived keeps its own).
pub fn job_id_for(order_id: &OrderId) -> Uuid {
    use sha2::Digest;
    // A name-based UUID (version 8: SHA-256 of a fixed prefix and the order id, truncated).
    let digest = sha2::Sha256::new()
        .chain_update(b"h2s-dispatch job of order ")
        .chain_update(order_id.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

async fn create_job(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    order: &LockedOrder,
    status: OrderStatus,
) -> Result<(Uuid, bool), sqlx::Error> {
    let recipient_id = recipients::resolve(
        tx,
        &order.customer_email,
        order.customer_name.as_deref(),
        order.customer_phone.as_deref(),
    )
    .await?;
    // `inserted`: false when the order's job was there after all (created by a transaction
    // that committed after `ensure_job`'s snapshot), which is then the job, existing.
    let (job_id, inserted): (Uuid, bool) = sqlx::query_as(
        r#"
        INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status, service_address)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (order_id) DO UPDATE SET updated_at = h2s_dispatch_jobs.updated_at
        RETURNING job_id, xmax = 0 AS inserted
        "#,
    )
    .bind(job_id_for(order_id))
    .bind(order_id)
    .bind(recipient_id)
    .bind(JobStatus::for_order(status).as_str())
    .bind(order.service_address.as_deref())
    .fetch_one(&mut **tx)
    .await?;
    if !inserted {
        return Ok((job_id, false));
    }
    // A job born `ready` (or `on_hold`) is news for the feed; one awaiting payment is not yet.
    if let Some(told) = told::new_job(JobStatus::for_order(status)) {
        events::record(tx, order_id, told).await?;
    }
    Ok((job_id, true))
}

/// Brings an existing job in line with its order's payment status, through the one job
/// transition function ([`transition::next`]): a paid order's job becomes `ready` (from
/// `awaiting_payment`, `on_hold`, or `cancelled` when an expired order is paid after all; a
/// job held while `scheduled` goes back to `scheduled`); a disputed one's `on_hold`
/// (remembering what it was held from); an expired, failed, refunded or lost one's
/// `cancelled`. `completed` is never touched, `scheduled` only by a hold, and a job an
/// operator cancelled stays cancelled. No job yet: nothing to do. `true` if the status
/// changed.
pub async fn sync_status(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    order_status: OrderStatus,
) -> Result<bool, sqlx::Error> {
    match transition::apply(tx, order_id, &JobEvent::Payment(order_status)).await {
        Ok(moved) => Ok(moved.is_some()),
        Err(MoveError::Database(e)) => Err(e),
        // A payment is never refused; should one be, it moves nothing.
        Err(MoveError::Refused(_)) => Ok(false),
    }
}

/// The status of the order's job, if it has one.
pub async fn job_status(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Option<Stored<JobStatus>>, sqlx::Error> {
    sqlx::query_scalar(r#"SELECT status FROM h2s_dispatch_jobs WHERE order_id = $1"#)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await
}
