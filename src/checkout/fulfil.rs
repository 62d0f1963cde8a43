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

use super::waiter::Signals;
use crate::{
    dispatch,
    orders::{
        OrderId, OrderStatus, SessionLink,
        repo::{self, CheckoutInputs},
        transition::{Amounts, PaymentEvent},
    },
    payments,
    queue::{Attempt, TaskError},
    stripe::{
        Blame, StripeHttp, outage,
        sessions::{self, CreatedSession},
    },
};

/// Where a checkout task tells the end of its order's checkout: the worker's batched
/// notifications to the waiting requests.
pub struct Fulfil<'a> {
    pub pool: &'a sqlx::PgPool,
    pub stripe: &'a StripeHttp,
    pub signals: &'a Signals,
}

/// Runs one checkout task to its end, in one commit: Stripe is asked first, outside any
/// transaction, under the order's idempotency key and with the order's job id (derived from
/// the order: `dispatch::job_id_for`) in the session's metadata; then one transaction
/// creates the recipient and the job, links them, stores the session and marks the task
/// done. A crash before that commit repeats the same call (Stripe replays its answer); a
/// crash after it leaves nothing to do. The task carries the order's inputs (`inputs`,
/// written with the order), so its first attempt reads nothing; a later attempt, or a task
/// without them (an older row, a re-enqueued one), reads the order first, and for one already
/// served (or no longer payable) only ensures its job and completes.
#[tracing::instrument(skip_all, fields(order_id = %order_id, checkout_trace_id = %trace_id))]
pub async fn fulfil(
    with: Fulfil<'_>,
    order_id: &OrderId,
    trace_id: Uuid,
    inputs: Option<CheckoutInputs>,
    attempt: &Attempt,
) -> Result<(), TaskError> {
    let first = inputs.filter(|_| attempt.number() == 1);
    // Nobody to tell when the request that made the order did not wait (a later attempt
    // tells all the same: a replayed request may wait on it), whether or not its inputs
    // carry all the session needs.
    let told = first.as_ref().is_none_or(|i| i.waited);
    let carried = first.and_then(|i| i.session_inputs(order_id, trace_id));
    static SILENT: Signals = Signals::SILENT;
    let with = Fulfil {
        signals: if told { with.signals } else { &SILENT },
        ..with
    };
    let order = match carried {
        Some(order) => order,
        None => match payable(&with, order_id).await? {
            Some(order) => order,
            None => return settle(&with, order_id, attempt).await,
        },
    };
    // Stripe keeps idempotency keys for 24 hours. Past that, a retry could create a second
    // session if an earlier attempt created one and crashed before storing it; and a customer
    // who waited a day is gone anyway. So an order (or a new payment link's attempt) that old
    // fails instead (if it is still waiting for its session: the order is read to know).
    if chrono::Utc::now() - order.attempt_started_at > SESSION_CREATION_WINDOW {
        return match payable(&with, order_id).await? {
            Some(_) => fail(&with, order_id, Refusal::TooLate.to_string(), attempt).await,
            None => settle(&with, order_id, attempt).await,
        };
    }
    let job_id = order
        .dispatch_job_id
        .unwrap_or_else(|| dispatch::job_id_for(order_id));
    match request_session(with.stripe, &order, job_id).await? {
        Ok(session) => store(&with, order_id, &order, &session, attempt).await,
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
        Err(e) => fail(&with, order_id, e.to_string(), attempt).await,
    }
}

/// The order's inputs, read, if it still waits for its session; else `None` (a retry, or a
/// webhook that came first).
async fn payable(
    with: &Fulfil<'_>,
    order_id: &OrderId,
) -> Result<Option<repo::SessionInputs>, TaskError> {
    let order = repo::session_inputs(with.pool, order_id)
        .await?
        .ok_or_else(|| TaskError::permanent(format!("order {order_id} vanished")))?;
    if order.stripe_session_id.is_some()
        || order.status.known() != Some(OrderStatus::PendingPayment)
    {
        return Ok(None);
    }
    Ok(Some(order))
}

/// A checkout with nothing left to ask Stripe: its job ensured and the task completed, in one
/// commit; any waiting request woken all the same.
async fn settle(with: &Fulfil<'_>, order_id: &OrderId, attempt: &Attempt) -> Result<(), TaskError> {
    let mut tx = with.pool.begin().await?;
    dispatch::ensure_job(&mut tx, order_id).await?;
    attempt.complete_in(&mut tx).await?;
    tx.commit().await?;
    with.signals.done(order_id);
    Ok(())
}

/// Asks Stripe for the order's session, under the order's idempotency key.
async fn request_session(
    stripe: &StripeHttp,
    order: &repo::SessionInputs,
    job_id: Uuid,
) -> Result<Result<CreatedSession, Refusal>, TaskError> {
    Ok(match sessions::create(stripe, order, job_id).await {
        Err(e) if e.blame() == Blame::IdempotencyKey => {
            // A request under this order's key reached Stripe before with other
            // parameters (an older build's encoding, say): its session is the order's.
            find_existing(stripe, order).await?
        }
        other => other.map_err(Refusal::Stripe),
    })
}

/// The one commit of a served checkout: the job (with its recipient and the order's links),
/// the session (while the order still waits for one) and the task's completion; then the
/// waiting request is woken.
async fn store(
    with: &Fulfil<'_>,
    order_id: &OrderId,
    order: &repo::SessionInputs,
    session: &CreatedSession,
    attempt: &Attempt,
) -> Result<(), TaskError> {
    let mut tx = with.pool.begin().await?;
    let link = SessionLink {
        id: &session.id,
        url: session.url.as_deref(),
        expires_at: session.expires_at,
    };
    let ensured = dispatch::ensure_job_with_session(&mut tx, order_id, &link).await?;
    let payable = ensured.order_status == OrderStatus::PendingPayment;
    attempt.complete_in(&mut tx).await?;
    tx.commit().await?;
    with.signals.done(order_id);
    if payable {
        tracing::info!(session_id = %session.id, "checkout session created");
        crate::metrics::checkout_completed(
            (chrono::Utc::now() - order.created_at)
                .to_std()
                .unwrap_or_default(),
        );
    } else {
        // Cancelled or expired meanwhile: the session is never handed out, and expires.
        tracing::info!(
            session_id = %session.id,
            status = %ensured.order_status.as_str(),
            "the order stopped waiting for its session: not stored"
        );
    }
    Ok(())
}

/// Stripe refused the order's own content, or it is too late to ask: retrying cannot help.
/// The order ends `failed` with the reason, its job cancelled, in the task's one commit.
async fn fail(
    with: &Fulfil<'_>,
    order_id: &OrderId,
    reason: String,
    attempt: &Attempt,
) -> Result<(), TaskError> {
    let mut tx = with.pool.begin().await?;
    dispatch::ensure_job(&mut tx, order_id).await?;
    payments::apply_event(
        &mut tx,
        order_id,
        PaymentEvent::SessionRejected,
        &Amounts::default(),
        Some(&reason),
    )
    .await?;
    attempt.complete_in(&mut tx).await?;
    tx.commit().await?;
    with.signals.done(order_id);
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
