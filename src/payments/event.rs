//! THE way an order's payment status changes, and what follows in the same transaction: the
//! dispatch job, the notifications, the operator's flags.

use sqlx::{Postgres, Transaction};

use super::error::ApplyError;
use crate::{
    alerts::{self, AlertKind},
    dispatch,
    orders::{
        CaptureMethod, OrderId, OrderStatus, hold, repo,
        transition::{self, Amounts, PaymentEvent},
    },
    outbox::{self, OutboxTask},
};

/// THE way an order's payment status changes, for every path (the webhook, the sweep's
/// Events API catch-up and session retrievals, the worker when Stripe refuses a checkout,
/// refunds and disputes): the status moves by the one transition function
/// (`transition::next`), and the dispatch job follows in the same transaction. Whenever the
/// order holds the money after an event — paid or disputed, newly or already after a paying
/// event — `dispatch::ensure_job` holds the invariant: one job, linked both ways, `ready`
/// (a `cancelled` or `on_hold` one revived, never a second) or `on_hold` while disputed. A
/// newly paid order gets its management notification through the outbox; a refund or a lost
/// dispute cancels the job, unless the dispatcher has it already (then an operator is told).
pub async fn apply_event(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    event: PaymentEvent,
    amounts: &Amounts,
    reason: Option<&str>,
) -> Result<Option<(OrderStatus, OrderStatus)>, ApplyError> {
    let changed = transition::apply(tx, order_id, event, amounts, reason).await?;
    let pays = matches!(
        event,
        PaymentEvent::CompletedPaid | PaymentEvent::AsyncSucceeded | PaymentEvent::Captured
    );
    match changed {
        Some((_, now)) if now.holds_money() => {
            dispatch::ensure_job(tx, order_id).await?;
            if now == OrderStatus::Paid {
                let notice = OutboxTask::NotifyPaid {
                    order_id: order_id.clone(),
                };
                outbox::enqueue(tx, &notice).await?;
            }
        }
        Some((_, now)) => {
            dispatch::sync_status(tx, order_id, now).await?;
            if matches!(now, OrderStatus::Refunded | OrderStatus::DisputeLost) {
                flag_if_dispatched(tx, order_id, now).await?;
            }
            if now == OrderStatus::AuthorizationExpired {
                let detail = "the hold lapsed before a capture: send a new payment link";
                alerts::raise(tx, order_id, AlertKind::AuthorizationExpired, detail).await?;
            }
        }
        // A paying event for an order already paid: hold the invariant all the same (a job
        // an operator cancelled by mistake, say, is ready again).
        None if pays && repo::status(tx, order_id).await? == Some(OrderStatus::Paid) => {
            dispatch::ensure_job(tx, order_id).await?;
        }
        None => {}
    }
    if let Some((_, now @ (OrderStatus::AwaitingPayment | OrderStatus::Authorized))) = changed {
        read_hold(tx, order_id, now).await?;
    }
    Ok(changed)
}

/// A manual-capture order's completed session said `unpaid` (or its hold was told without
/// its charge): the worker reads the PaymentIntent, whose status tells a hold
/// (`requires_capture`) from a delayed payment (`processing`), and whose charge tells when
/// the hold lapses. Once per payment attempt.
async fn read_hold(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    now: OrderStatus,
) -> Result<(), sqlx::Error> {
    let Some((CaptureMethod::Manual, attempt)) = hold::method_and_attempt(tx, order_id).await?
    else {
        return Ok(());
    };
    if now == OrderStatus::Authorized && hold::capture_before_exact(tx, order_id).await? {
        return Ok(());
    }
    let task = OutboxTask::CheckHold {
        order_id: order_id.clone(),
        attempt,
    };
    outbox::enqueue(tx, &task).await
}

/// The money went back, but the dispatcher has the job (`scheduled` or `completed`): it is
/// left as it is, and an operator is told.
async fn flag_if_dispatched(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    now: OrderStatus,
) -> Result<(), sqlx::Error> {
    let job = dispatch::job_status(tx, order_id).await?;
    let Some(job) = job.and_then(|j| j.known()).filter(|j| j.is_dispatched()) else {
        return Ok(());
    };
    let detail = format!(
        "order {} while its job is {}: the job was left as it is",
        now.as_str(),
        job.as_str()
    );
    alerts::raise(tx, order_id, AlertKind::MoneyBackAfterDispatch, &detail).await?;
    Ok(())
}
