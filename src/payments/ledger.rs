//! What the money's later life leaves in the books: the amount refunded (`h2s_orders`,
//! `h2s_refunds`) and each dispute (`h2s_disputes`), every write safe to repeat and to see
//! out of order.

use sqlx::{Postgres, Transaction};

use super::{error::ApplyError, refund_requests::RefundFate};
use crate::{
    alerts::{self, AlertKind},
    events::{self, Event},
    orders::OrderId,
    outbox::{self, OutboxTask},
};

/// Records that at least `amount` is refunded (amounts only grow: events come in any order).
/// `true` when that is the whole order, or when Stripe says the charge is refunded in full
/// (`full`). An amount that grew short of the whole is `order.partially_refunded` for the
/// feed; a repeated event grows nothing and tells nothing.
pub(super) async fn refunded_at_least(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    amount: i64,
    full: bool,
) -> Result<bool, sqlx::Error> {
    let (refunded, total, before) =
        crate::orders::repo::refunded_at_least(tx, order_id, amount).await?;
    let whole = full || total.is_some_and(|total| total > 0 && refunded >= total);
    if refunded > before && !whole {
        events::record(tx, order_id, Event::OrderPartiallyRefunded).await?;
    }
    Ok(whole)
}

/// Records one refund as Stripe reported it; the sum of the order's refunds that went
/// through. A refund only moves forward (`pending` to `succeeded`, either to `failed` or
/// `canceled`; Stripe may fail one that had succeeded), while its events come in any order
/// (the reconciler lists a `refund.created` long after its `refund.updated` was delivered):
/// a report of an earlier state than the one recorded changes nothing, so a late `pending`
/// never takes back money that went back to the customer.
pub(super) async fn record_refund(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    refund_id: &str,
    amount: i64,
    fate: RefundFate<'_>,
) -> Result<i64, sqlx::Error> {
    // Stored statuses and their order along a refund's life (`not_succeeded`: not yet).
    let status = match fate {
        RefundFate::Pending => "not_succeeded",
        RefundFate::Succeeded => "succeeded",
        RefundFate::Failed(_) => "failed",
    };
    sqlx::query(
        r#"
        INSERT INTO h2s_refunds (refund_id, order_id, amount, status) VALUES ($1, $2, $3, $4)
        ON CONFLICT (refund_id) DO UPDATE
        SET amount = EXCLUDED.amount, status = EXCLUDED.status, updated_at = now()
        WHERE array_position(ARRAY['not_succeeded', 'succeeded', 'failed'], EXCLUDED.status)
            > COALESCE(
                array_position(ARRAY['not_succeeded', 'succeeded', 'failed'], h2s_refunds.status),
                0)
        "#,
    )
    .bind(refund_id)
    .bind(order_id)
    .bind(amount)
    .bind(status)
    .execute(&mut **tx)
    .await?;
    sqlx::query_scalar(
        r#"
        SELECT COALESCE(sum(amount), 0)::bigint FROM h2s_refunds
        WHERE order_id = $1 AND status = 'succeeded'
        "#,
    )
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await
}

/// Records a new dispute, raises its alert and queues its notification. `false` when the
/// dispute is known already (a `created` after its `closed` changes nothing).
pub(super) async fn open_dispute(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    dispute_id: &str,
    amount: Option<i64>,
    reason: Option<&str>,
) -> Result<bool, ApplyError> {
    let new = sqlx::query(
        r#"
        INSERT INTO h2s_disputes (dispute_id, order_id, status, amount, reason)
        VALUES ($1, $2, 'open', $3, $4)
        ON CONFLICT (dispute_id) DO NOTHING
        "#,
    )
    .bind(dispute_id)
    .bind(order_id)
    .bind(amount)
    .bind(reason)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if new {
        let detail = format!(
            "dispute {dispute_id} opened ({}): respond with evidence in the Stripe dashboard",
            reason.unwrap_or("no reason given")
        );
        alerts::raise(tx, order_id, AlertKind::DisputeOpened, &detail).await?;
        let notice = OutboxTask::NotifyDispute {
            order_id: order_id.clone(),
        };
        outbox::enqueue(tx, &notice).await?;
    }
    Ok(new)
}

/// Records that the dispute closed. `false` when it was closed already.
pub(super) async fn close_dispute(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    dispute_id: &str,
    won: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        INSERT INTO h2s_disputes (dispute_id, order_id, status, closed_at)
        VALUES ($1, $2, $3, now())
        ON CONFLICT (dispute_id) DO UPDATE SET status = EXCLUDED.status, closed_at = now()
        WHERE h2s_disputes.status = 'open'
        "#,
    )
    .bind(dispute_id)
    .bind(order_id)
    .bind(if won { "won" } else { "lost" })
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
