//! Refunds and disputes (`charge.refunded`, `refund.updated`, `charge.dispute.created`,
//! `charge.dispute.closed`), applied to the order whose PaymentIntent they name, through
//! [`super::apply_event`] like every status change. An event for a PaymentIntent no order has
//! yet (its session's webhook has not come) is parked, and applied in the transaction that
//! stores the PaymentIntent, before the session's own event: a refund seen first still ends
//! `refunded`, never `paid`.

use sqlx::{Postgres, Transaction, types::Json};

use super::{
    error::ApplyError,
    event::apply_event,
    ledger::{close_dispute, open_dispute, record_refund, refunded_at_least},
    refund_requests::{RefundFate, settle},
};
use crate::{
    alerts::{self, AlertKind},
    events::{self, DisputeOutcome, Event},
    orders::{
        CaptureMethod, OrderId, OrderStatus, hold,
        transition::{Amounts, PaymentEvent},
    },
    stripe::{MoneyChange, MoneyFacts},
};

/// What a refund or dispute event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyOutcome {
    Applied {
        order_id: OrderId,
        changed: Option<(OrderStatus, OrderStatus)>,
    },
    /// No order has its PaymentIntent yet: kept until one does.
    Parked,
}

/// Serialises the parking of events for a PaymentIntent with the storing of it, so an event
/// is never parked just after the order learnt its PaymentIntent (and then left parked).
pub(super) async fn lock_payment_intent(
    tx: &mut Transaction<'_, Postgres>,
    payment_intent: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(r#"SELECT pg_advisory_xact_lock(hashtextextended('pi:' || $1, 0))"#)
        .bind(payment_intent)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The order whose PaymentIntent this is, locked.
async fn order_of(
    tx: &mut Transaction<'_, Postgres>,
    payment_intent: &str,
) -> Result<Option<OrderId>, sqlx::Error> {
    sqlx::query_scalar(
        r#"SELECT order_id FROM h2s_orders WHERE stripe_payment_intent_id = $1 FOR UPDATE"#,
    )
    .bind(payment_intent)
    .fetch_optional(&mut **tx)
    .await
}

/// Applies Stripe's answer to an operator's refund (`POST /v1/refunds`) exactly as the
/// refund's event would be: whichever comes first settles the request and records the money,
/// the other finds both done. `None` if no order has the PaymentIntent.
pub async fn apply_refund_answer(
    tx: &mut Transaction<'_, Postgres>,
    facts: &MoneyFacts,
) -> Result<Option<Option<(OrderStatus, OrderStatus)>>, ApplyError> {
    lock_payment_intent(tx, &facts.payment_intent).await?;
    let order_id = order_of(tx, &facts.payment_intent).await?;
    match order_id {
        Some(order_id) => Ok(Some(apply_to(tx, &order_id, facts).await?)),
        None => Ok(None),
    }
}

/// Applies the event `event_id` (already recorded in `h2s_stripe_events`) to the order of its
/// PaymentIntent, or parks it.
pub async fn apply_money(
    tx: &mut Transaction<'_, Postgres>,
    event_id: &str,
    created: i64,
    facts: &MoneyFacts,
) -> Result<MoneyOutcome, ApplyError> {
    lock_payment_intent(tx, &facts.payment_intent).await?;
    let order_id = order_of(tx, &facts.payment_intent).await?;
    let Some(order_id) = order_id else {
        sqlx::query(
            r#"
            INSERT INTO h2s_parked_events (event_id, payment_intent_id, created, facts)
            VALUES ($1, $2, $3, $4)
            "#,
        )
        .bind(event_id)
        .bind(&facts.payment_intent)
        .bind(created)
        .bind(Json(facts))
        .execute(&mut **tx)
        .await?;
        tracing::info!(payment_intent = %facts.payment_intent, "no order has this PaymentIntent yet: event parked");
        return Ok(MoneyOutcome::Parked);
    };
    let changed = apply_to(tx, &order_id, facts).await?;
    Ok(MoneyOutcome::Applied { order_id, changed })
}

/// Stores the PaymentIntent a session names (with the session's amounts, which decide whether
/// a refund is whole), then applies what was parked for it, in the order it arrived (the
/// effects commute: amounts only grow, a dispute is remembered by its id). The caller holds
/// [`lock_payment_intent`] for it.
pub(super) async fn store_payment_intent(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    payment_intent: &str,
    amounts: &Amounts,
) -> Result<(), ApplyError> {
    // One statement: the PaymentIntent stored (unless the order has one or another order
    // holds this one), and only then what was parked for it taken.
    let mut parked: Vec<(String, i64, Json<MoneyFacts>)> = sqlx::query_as(
        r#"
        WITH stored AS (
            UPDATE h2s_orders
            SET stripe_payment_intent_id = $2,
                amount_total = COALESCE($3, amount_total),
                currency = COALESCE($4, currency),
                updated_at = now()
            WHERE order_id = $1 AND stripe_payment_intent_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM h2s_orders WHERE stripe_payment_intent_id = $2)
            RETURNING order_id
        )
        DELETE FROM h2s_parked_events
        WHERE payment_intent_id = $2 AND EXISTS (SELECT 1 FROM stored)
        RETURNING event_id, seq, facts
        "#,
    )
    .bind(order_id)
    .bind(payment_intent)
    .bind(amounts.amount_total)
    .bind(amounts.currency.as_deref())
    .fetch_all(&mut **tx)
    .await?;
    parked.sort_by_key(|(_, seq, _)| *seq);
    for (event_id, _, Json(facts)) in parked {
        let changed = apply_to(tx, order_id, &facts).await?;
        sqlx::query(
            r#"UPDATE h2s_stripe_events SET outcome = $2, order_id = $3 WHERE event_id = $1"#,
        )
        .bind(&event_id)
        .bind(if changed.is_some() {
            "applied"
        } else {
            "no_change"
        })
        .bind(order_id.as_str())
        .execute(&mut **tx)
        .await?;
        tracing::info!(%event_id, "parked event applied");
    }
    Ok(())
}

/// The effect of one refund or dispute on its order: amounts and disputes recorded, then the
/// payment event they amount to (if any) through `apply_event`. A dispute that moves no
/// status (a second one, one on an order refunded already, a won close seen before its
/// opening) is told to the feed here; one that moves it is told by the move.
async fn apply_to(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    facts: &MoneyFacts,
) -> Result<Option<(OrderStatus, OrderStatus)>, ApplyError> {
    let (event, dispute) = book(tx, order_id, facts).await?;
    let amounts = match &facts.change {
        MoneyChange::Hold(hold) => super::hold_facts::hold_amounts(*hold),
        _ => Amounts::default(),
    };
    let changed = match event {
        Some(event) => apply_event(tx, order_id, event, &amounts, None).await?,
        None => None,
    };
    if let (Some(dispute), None) = (dispute, changed) {
        events::record(tx, order_id, dispute).await?;
    }
    Ok(changed)
}

/// Records the refund or dispute; the payment event it amounts to, and the feed's event for
/// a dispute recorded (opened, or closed) now.
async fn book(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    facts: &MoneyFacts,
) -> Result<(Option<PaymentEvent>, Option<Event>), ApplyError> {
    Ok(match &facts.change {
        MoneyChange::ChargeRefunded {
            amount_refunded,
            full,
            ..
        } => {
            let whole = refunded_at_least(tx, order_id, *amount_refunded, *full).await?;
            (whole.then_some(PaymentEvent::Refunded), None)
        }
        MoneyChange::RefundUpdated {
            refund_id,
            amount,
            succeeded,
            failed,
            failure_reason,
            request,
        } => {
            let fate = match (*succeeded, *failed) {
                (true, _) => RefundFate::Succeeded,
                (false, true) => RefundFate::Failed(failure_reason.as_deref().unwrap_or("failed")),
                (false, false) => RefundFate::Pending,
            };
            settle(tx, order_id, request.as_deref(), refund_id, fate).await?;
            if let RefundFate::Failed(reason) = fate {
                refund_failed(tx, order_id, refund_id, *amount, reason).await?;
            }
            let sum = record_refund(tx, order_id, refund_id, *amount, fate).await?;
            let whole = refunded_at_least(tx, order_id, sum, false).await?;
            (whole.then_some(PaymentEvent::Refunded), None)
        }
        MoneyChange::DisputeOpened {
            dispute_id,
            amount,
            reason,
        } => {
            let new = open_dispute(tx, order_id, dispute_id, *amount, reason.as_deref()).await?;
            recorded(new, PaymentEvent::DisputeOpened, Event::DisputeOpened)
        }
        MoneyChange::Hold(hold) => {
            // Stripe tells every payment's PaymentIntent (`payment_intent.succeeded`): only a
            // manual-capture order's is a hold's fate; an automatic one is paid by its session.
            let manual = hold::capture_method(tx, order_id).await? == Some(CaptureMethod::Manual);
            (manual.then_some(super::hold_facts::hold_event(*hold)), None)
        }
        MoneyChange::DisputeClosed { dispute_id, won } => {
            let (event, outcome) = if *won {
                (PaymentEvent::DisputeWon, DisputeOutcome::Won)
            } else {
                (PaymentEvent::DisputeLost, DisputeOutcome::Lost)
            };
            let closed = close_dispute(tx, order_id, dispute_id, *won).await?;
            recorded(closed, event, Event::DisputeClosed(outcome))
        }
    })
}

/// A refund that failed after Stripe took it: the customer was not repaid. The order keeps
/// the status its refund gave it (the job is not sent out again on a bank's refusal), and the
/// operator is told, once per order.
async fn refund_failed(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    refund_id: &str,
    amount: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let detail = format!(
        "refund {refund_id} of {amount} (smallest currency unit) failed at Stripe ({reason}): \
         the customer was not repaid; refund again or settle with the customer"
    );
    alerts::raise(tx, order_id, AlertKind::RefundFailed, &detail).await?;
    Ok(())
}

/// A dispute's payment event and feed event, if the dispute's record changed.
fn recorded(
    changed: bool,
    event: PaymentEvent,
    told: Event,
) -> (Option<PaymentEvent>, Option<Event>) {
    if changed {
        (Some(event), Some(told))
    } else {
        (None, None)
    }
}
