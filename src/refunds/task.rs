//! The worker's refund step: ask Stripe for the request's refund under the request's own
//! idempotency key, and record the answer through the path the refund's event takes. A crash
//! anywhere replays: the same key and body make Stripe answer with the same refund, and the
//! refund's id makes the money count once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    orders::OrderId,
    payments::{money, refund_requests},
    queue::TaskError,
    stripe::{
        Blame, MoneyFacts, StripeHttp, outage,
        refunds::{self, RefundCall},
    },
};

/// Past this age a request's key may have left Stripe's 24-hour idempotency window: its
/// refund is looked for (by its metadata) before one is asked for.
pub const REPLAY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(23);

#[derive(sqlx::FromRow)]
struct Pending {
    order_id: OrderId,
    amount: i64,
    status: String,
    payment_intent: Option<String>,
    created_at: DateTime<Utc>,
}

/// Carries out the refund request `request_id` (nothing to do once it is settled).
#[tracing::instrument(skip_all, fields(refund_request_id = %request_id))]
pub async fn carry_out(
    pool: &sqlx::PgPool,
    stripe: &StripeHttp,
    request_id: Uuid,
) -> Result<(), TaskError> {
    let pending: Option<Pending> = sqlx::query_as(
        r#"
        SELECT r.order_id, r.amount, r.status, o.stripe_payment_intent_id AS payment_intent,
               r.created_at
        FROM h2s_refund_requests r JOIN h2s_orders o USING (order_id)
        WHERE r.refund_request_id = $1
        "#,
    )
    .bind(request_id)
    .fetch_optional(pool)
    .await?;
    let pending = pending.ok_or_else(|| TaskError::permanent("the refund request vanished"))?;
    if pending.status != "requested" {
        return Ok(());
    }
    let payment_intent = (pending.payment_intent.as_deref())
        .ok_or_else(|| TaskError::permanent("the order has no PaymentIntent"))?;
    let id = request_id.to_string();
    let call = RefundCall {
        request_id: &id,
        payment_intent,
        amount: pending.amount,
        order_id: pending.order_id.as_str(),
    };
    match ask(stripe, &call, pending.created_at).await {
        Ok(facts) => record(pool, &facts).await,
        Err(e) => match refunds::refusal(&e) {
            Some(reason) => {
                tracing::warn!(%reason, "Stripe refused the refund: request failed");
                let mut tx = pool.begin().await?;
                refund_requests::refuse(&mut tx, request_id, &reason).await?;
                tx.commit().await?;
                Ok(())
            }
            // The key was used with other parameters: nothing this step can settle alone.
            None if e.blame() == Blame::IdempotencyKey => Err(TaskError::permanent_from(e)),
            None => {
                outage::report("create_refund", &e);
                Err(TaskError::Outage {
                    reason: e.to_string(),
                    retry_after: e.retry_after(),
                    source: Some(Box::new(e)),
                })
            }
        },
    }
}

/// The refund: made (or replayed) under the request's key, or, for a request older than
/// the replay window, the one already made if Stripe lists it.
async fn ask(
    stripe: &StripeHttp,
    call: &RefundCall<'_>,
    created_at: DateTime<Utc>,
) -> Result<MoneyFacts, crate::stripe::StripeCallError> {
    if Utc::now() - created_at > REPLAY_WINDOW
        && let Some(found) = refunds::find(stripe, call).await?
    {
        return Ok(found);
    }
    refunds::create(stripe, call).await
}

/// Records Stripe's answer as the refund's event would be recorded.
async fn record(pool: &sqlx::PgPool, facts: &MoneyFacts) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    let applied = money::apply_refund_answer(&mut tx, facts).await?;
    tx.commit().await?;
    match applied {
        Some(_) => Ok(()),
        None => Err(TaskError::permanent(
            "no order has the refund's PaymentIntent",
        )),
    }
}
