//! The worker's checkout step: recipient, dispatch job, Stripe Checkout Session.

use uuid::Uuid;

/// How long after its checkout an order may still get its Checkout Session: inside Stripe's
/// 24-hour idempotency window, with an hour to spare.
pub const SESSION_CREATION_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(23);

#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{0}")]
    Stripe(crate::stripe::StripeCallError),
    #[error("the payment session was not created within 23 hours of the checkout")]
    TooLate,
}

use super::waiter::signal_done;
use crate::{
    dispatch,
    orders::{
        OrderId, OrderStatus, repo,
        transition::{Amounts, PaymentEvent},
    },
    payments,
    queue::TaskError,
    stripe::{
        Blame, StripeHttp, outage,
        sessions::{self, CreatedSession},
    },
};

/// Runs one checkout task to its end. Every step is idempotent, so a retry after any crash
/// point converges: the job is ensured (one per order), the session is created with the
/// order's idempotency key (Stripe replays rather than duplicates), and the first session
/// stored is kept.
#[tracing::instrument(skip_all, fields(order_id = %order_id, checkout_trace_id = %trace_id))]
pub async fn fulfil(
    pool: &sqlx::PgPool,
    stripe: &StripeHttp,
    order_id: &OrderId,
    trace_id: Uuid,
) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    let job_id = dispatch::ensure_job(&mut tx, order_id).await?.job_id;
    tx.commit().await?;

    let order = repo::session_inputs(pool, order_id)
        .await?
        .ok_or_else(|| TaskError::permanent(format!("order {order_id} vanished")))?;
    if order.stripe_session_id.is_some()
        || order.status.known() != Some(OrderStatus::PendingPayment)
    {
        // Already has its session (a retry, or a webhook that came first), or no longer
        // payable: nothing to create. Wake any waiting request all the same.
        signal_done(pool, order_id).await;
        return Ok(());
    }

    match request_session(stripe, &order, job_id).await? {
        Ok(session) => store(pool, order_id, &order, &session).await,
        Err(Refusal::Stripe(e)) if e.blame() != Blame::Order => {
            // Not the order's fault (our key, Stripe's health, the network): the order stays
            // `pending_payment` and the task waits the outage out.
            outage::report("create_session", &e);
            Err(TaskError::Outage {
                reason: e.to_string(),
                retry_after: e.retry_after(),
                source: Some(Box::new(e)),
            })
        }
        Err(e) => fail(pool, order_id, e.to_string()).await,
    }
}

/// Asks Stripe for the order's session, under the order's idempotency key.
async fn request_session(
    stripe: &StripeHttp,
    order: &repo::SessionInputs,
    job_id: Uuid,
) -> Result<Result<CreatedSession, Refusal>, TaskError> {
    // Stripe keeps idempotency keys for 24 hours. Past that, a retry could create a second
    // session if an earlier attempt created one and crashed before storing it; and a customer
    // who waited a day is gone anyway. So an order that old fails instead.
    if chrono::Utc::now() - order.attempt_started_at > SESSION_CREATION_WINDOW {
        return Ok(Err(Refusal::TooLate));
    }
    Ok(match sessions::create(stripe, order, job_id).await {
        Err(e) if e.blame() == Blame::IdempotencyKey => {
            // A request under this order's key reached Stripe before with other
            // parameters (an older build's encoding, say): its session is the order's.
            find_existing(stripe, order).await?
        }
        other => other.map_err(Refusal::Stripe),
    })
}

/// Stores the session and wakes the waiting request, in one transaction.
async fn store(
    pool: &sqlx::PgPool,
    order_id: &OrderId,
    order: &repo::SessionInputs,
    session: &CreatedSession,
) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    repo::store_session(
        &mut tx,
        order_id,
        &session.id,
        session.url.as_deref(),
        session.expires_at,
    )
    .await?;
    tx.commit().await?;
    signal_done(pool, order_id).await;
    tracing::info!(session_id = %session.id, "checkout session created");
    crate::metrics::checkout_completed(
        (chrono::Utc::now() - order.created_at)
            .to_std()
            .unwrap_or_default(),
    );
    Ok(())
}

/// Stripe refused the order's own content, or it is too late to ask: retrying cannot help.
/// The order ends `failed` with the reason, its job cancelled.
async fn fail(pool: &sqlx::PgPool, order_id: &OrderId, reason: String) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    payments::apply_event(
        &mut tx,
        order_id,
        PaymentEvent::SessionRejected,
        &Amounts::default(),
        Some(&reason),
    )
    .await?;
    tx.commit().await?;
    signal_done(pool, order_id).await;
    tracing::warn!(%reason, "stripe refused the checkout session; order failed");
    Ok(())
}

/// The session an earlier request under the order's idempotency key created. Any failure to
/// look is an outage; a session not (yet) listed is retried.
async fn find_existing(
    stripe: &StripeHttp,
    order: &repo::SessionInputs,
) -> Result<Result<CreatedSession, Refusal>, TaskError> {
    // A minute of slack for clocks: the session cannot predate its order.
    let since = order.attempt_started_at.timestamp() - 60;
    match sessions::find_for_order(stripe, &order.order_id, since).await {
        Ok(Some(session)) => {
            tracing::warn!(session_id = %session.id, "idempotency_error: the order's existing session adopted");
            Ok(Ok(session))
        }
        Ok(None) => Err(TaskError::retryable(
            "idempotency_error, and no session of this order is listed yet",
            None,
        )),
        Err(e) => {
            outage::report("list_sessions", &e);
            Err(TaskError::Outage {
                reason: format!("looking for the order's session: {e}"),
                retry_after: e.retry_after(),
                source: Some(Box::new(e)),
            })
        }
    }
}
