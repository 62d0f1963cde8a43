//! The one writer of `h2s_refund_requests`: an operator's refund request written
//! (`refunds::request`, [`insert`]), then settled by what Stripe says of its refund, whichever
//! word comes first: the worker's answer to `POST /v1/refunds` or the refund's event. Both reach
//! here through `money::apply_to` in a transaction holding the order's lock; the first settles
//! the request, the second finds it settled. The money itself is recorded by the refund's id
//! (`ledger::record_refund`), so it counts once however many times it is told.

use sqlx::{Postgres, Transaction};

use crate::orders::OrderId;

/// What became of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundFate<'a> {
    Succeeded,
    /// Not yet (`pending`, `requires_action`): the refund's id is kept, its event settles it.
    Pending,
    Failed(&'a str),
}

/// Settles the request the refund belongs to (by `metadata[h2s_refund_request]`, else by the
/// refund's id stored from an earlier answer), if it is still `requested`. `true` if it was.
pub(super) async fn settle(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    request: Option<&str>,
    refund_id: &str,
    fate: RefundFate<'_>,
) -> Result<bool, sqlx::Error> {
    let (status, reason) = match fate {
        RefundFate::Succeeded => ("succeeded", None),
        RefundFate::Pending => ("requested", None),
        RefundFate::Failed(reason) => ("failed", Some(reason)),
    };
    let done = sqlx::query(
        r#"
        UPDATE h2s_refund_requests
        SET stripe_refund_id = $3,
            status = $4,
            failure_reason = $5,
            settled_at = CASE WHEN $4 = 'requested' THEN NULL ELSE now() END
        WHERE order_id = $1 AND status = 'requested'
          AND (refund_request_id::text = $2 OR stripe_refund_id = $3)
        "#,
    )
    .bind(order_id)
    .bind(request)
    .bind(refund_id)
    .bind(status)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    let settled = done.rows_affected() == 1 && status != "requested";
    if settled {
        tracing::info!(order_id = %order_id, refund_id, status, "refund request settled");
    }
    Ok(settled)
}

/// Stripe refused the request (`charge_already_refunded`, `amount_too_large`, ...): it ends
/// `failed` with Stripe's reason, the order as it was. `true` if it was still `requested`.
pub async fn refuse(
    tx: &mut Transaction<'_, Postgres>,
    request_id: uuid::Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        UPDATE h2s_refund_requests
        SET status = 'failed', failure_reason = $2, settled_at = now()
        WHERE refund_request_id = $1 AND status = 'requested'
        "#,
    )
    .bind(request_id)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A refund request as `refunds::request` decided it.
pub struct NewRequest<'a> {
    pub id: uuid::Uuid,
    pub order_id: &'a OrderId,
    /// Cents to refund.
    pub amount: i64,
    pub reason: &'a str,
    pub cancel_job: bool,
    pub override_dispatched: bool,
    /// The `Idempotency-Key` and the hash of the body it came with.
    pub idempotency: Option<(&'a str, String)>,
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    row: &NewRequest<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"
        INSERT INTO h2s_refund_requests
            (refund_request_id, order_id, amount, reason, cancel_job, override_dispatched,
             idempotency_key, request_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        "#,
    )
    .bind(row.id)
    .bind(row.order_id)
    .bind(row.amount)
    .bind(row.reason)
    .bind(row.cancel_job)
    .bind(row.override_dispatched)
    .bind(row.idempotency.as_ref().map(|(key, _)| *key))
    .bind(row.idempotency.as_ref().map(|(_, hash)| hash.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
