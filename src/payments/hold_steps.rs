//! The worker's steps for a hold: capture it, release it, or read it, each asking Stripe
//! under the order's one key for that step and payment attempt, and recording the answer
//! exactly as the PaymentIntent's event would be recorded (`money::apply_refund_answer`, the
//! path every money answer takes): whichever of the answer and the event comes first moves
//! the order, the other finds it moved. A crash anywhere replays the same call under the
//! same key, so Stripe captures once.

use sqlx::PgPool;

use super::money;
use crate::{
    orders::{OrderId, OrderStatus, hold},
    queue::TaskError,
    stripe::{
        HoldChange, MoneyChange, MoneyFacts, StripeCallError, StripeHttp, outage,
        payment_intents::{self, Refusal},
    },
};

/// What the step asks of Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Capture,
    Release,
    /// Read the PaymentIntent (after an `unpaid` completed session, or by the sweep).
    Check,
}

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Capture => "capture_payment_intent",
            Step::Release => "cancel_payment_intent",
            Step::Check => "retrieve_payment_intent",
        }
    }
}

/// Runs `step` for the order's payment attempt `attempt`. Nothing to do once the order has
/// left `authorized` (or, for a check, the statuses that await the hold), or once a newer
/// payment attempt began.
#[tracing::instrument(skip_all, fields(%order_id, attempt, step = step.label()))]
pub async fn run(
    pool: &PgPool,
    stripe: &StripeHttp,
    order_id: &OrderId,
    attempt: i32,
    step: Step,
) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    let order = hold::lock(&mut tx, order_id).await?;
    tx.rollback().await?;
    let order = order.ok_or_else(|| TaskError::permanent(format!("order {order_id} vanished")))?;
    let status = order.status.known();
    let waiting = match step {
        Step::Capture | Step::Release => status == Some(OrderStatus::Authorized),
        Step::Check => matches!(
            status,
            Some(OrderStatus::Authorized | OrderStatus::AwaitingPayment)
        ),
    };
    if !waiting || order.pay_attempt != attempt {
        return Ok(());
    }
    let facts = ask(stripe, &order, step).await?;
    let Some(facts) = facts else {
        // Its status tells no hold yet (`processing`): nothing to record.
        return match step {
            Step::Check => Ok(()),
            _ => Err(TaskError::retryable(
                "the PaymentIntent is in no state to capture or cancel yet",
                None,
            )),
        };
    };
    record(pool, &facts).await
}

/// Stripe's answer to the step, read as the PaymentIntent's event: a refusal that says the
/// hold lapsed is the lapse; another refusal of a capture or a cancel (captured or cancelled
/// already, say) is answered by the PaymentIntent's own status.
async fn ask(
    stripe: &StripeHttp,
    order: &hold::HoldView,
    step: Step,
) -> Result<Option<MoneyFacts>, TaskError> {
    let (order_id, attempt) = (&order.order_id, order.pay_attempt);
    let payment_intent = (order.stripe_payment_intent_id.as_deref())
        .ok_or_else(|| TaskError::permanent("the order has no PaymentIntent"))?;
    let answer = match step {
        Step::Capture => {
            let amount = (order.capture_requested_amount)
                .ok_or_else(|| TaskError::permanent("no capture was asked"))?;
            let key = payment_intents::capture_key(order_id, attempt);
            payment_intents::capture(stripe, payment_intent, amount, &key).await
        }
        Step::Release => {
            let key = payment_intents::release_key(order_id, attempt);
            payment_intents::cancel(stripe, payment_intent, &key).await
        }
        Step::Check => payment_intents::retrieve(stripe, payment_intent).await,
    };
    match answer {
        Ok(facts) => Ok(facts),
        Err(e) => match payment_intents::refusal(&e) {
            Some(Refusal::Lapsed) => Ok(Some(MoneyFacts {
                payment_intent: payment_intent.to_owned(),
                change: MoneyChange::Hold(HoldChange::Lapsed),
            })),
            Some(Refusal::AskThePaymentIntent) if step != Step::Check => {
                tracing::warn!(error = %e, "Stripe refused the call: reading the PaymentIntent");
                payment_intents::retrieve(stripe, payment_intent)
                    .await
                    .map_err(|e| outage_error(step, e))
            }
            _ => Err(outage_error(step, e)),
        },
    }
}

fn outage_error(step: Step, e: StripeCallError) -> TaskError {
    outage::report(step.label(), &e);
    TaskError::Outage {
        reason: e.to_string(),
        retry_after: e.retry_after(),
        source: Some(Box::new(e)),
    }
}

/// Records Stripe's answer as the PaymentIntent's event would be recorded.
async fn record(pool: &PgPool, facts: &MoneyFacts) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    let applied = money::apply_refund_answer(&mut tx, facts).await?;
    tx.commit().await?;
    match applied {
        Some(_) => Ok(()),
        None => Err(TaskError::permanent(
            "no order has the hold's PaymentIntent",
        )),
    }
}
