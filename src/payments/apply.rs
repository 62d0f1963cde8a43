//! Applying what Stripe says about a Checkout Session to our order. The webhook (layer 2) and
//! the reconciler (layer 3) both come here, so a missed webhook repaired by a sweep has
//! exactly the effect the webhook would have had.

use sqlx::{Postgres, Transaction};

use crate::{
    dispatch::{self, EnsureJobError},
    orders::{
        OrderId, OrderStatus, repo,
        transition::{self, Amounts, PaymentEvent},
    },
    outbox::{self, OutboxTask},
    stripe::SessionFacts,
};

/// The result of applying a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub order_id: OrderId,
    /// The order did not exist and was created from the session.
    pub created: bool,
    /// `(before, after)` if the status changed.
    pub changed: Option<(OrderStatus, OrderStatus)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the session names no order and carries no customer email")]
    Unattributable,
    #[error(transparent)]
    Job(EnsureJobError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<EnsureJobError> for ApplyError {
    fn from(e: EnsureJobError) -> Self {
        match e {
            EnsureJobError::Database(e) => ApplyError::Database(e),
            other => ApplyError::Job(other),
        }
    }
}

/// Applies `event` for the session to its order, inside `tx`:
/// finds the order (by `metadata.order_id`, then `client_reference_id`, then the session id),
/// or creates it from the session so that a payment is never lost; records the session;
/// then [`apply_event`].
#[tracing::instrument(skip_all, fields(session_id = %facts.session_id, order_id))]
pub async fn apply_session(
    tx: &mut Transaction<'_, Postgres>,
    facts: &SessionFacts,
    event: PaymentEvent,
) -> Result<Applied, ApplyError> {
    let (order_id, created) = match find_order(tx, facts).await? {
        Some(id) => (id, false),
        None => (create_from_session(tx, facts).await?, true),
    };
    tracing::Span::current().record("order_id", tracing::field::display(&order_id));
    repo::store_session(
        tx,
        &order_id,
        &facts.session_id,
        facts.url.as_deref(),
        facts.expires_at,
    )
    .await?;
    let amounts = Amounts {
        amount_total: facts.amount_total,
        currency: facts.currency.clone(),
    };
    let changed = apply_event(tx, &order_id, event, &amounts, None).await?;
    Ok(Applied {
        order_id,
        created,
        changed,
    })
}

/// THE way an order's payment status changes, for every path (the webhook, the sweep's
/// Events API catch-up and session retrievals, the worker when Stripe refuses a checkout):
/// the status moves by the one transition function (`transition::next`, which never leaves
/// `paid`), and the dispatch job follows in the same transaction. Whenever the order is paid
/// after a paying event — newly, or already — `dispatch::ensure_job` holds the invariant:
/// one job, linked both ways, `ready` (a `cancelled` one revived, never a second). A newly
/// paid order also gets its management notification through the outbox.
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
        PaymentEvent::CompletedPaid | PaymentEvent::AsyncSucceeded
    );
    match changed {
        Some((_, OrderStatus::Paid)) => {
            dispatch::ensure_job(tx, order_id).await?;
            let notice = OutboxTask::NotifyPaid {
                order_id: order_id.clone(),
            };
            outbox::enqueue(tx, &notice).await?;
        }
        Some((_, now)) => {
            dispatch::sync_status(tx, order_id, now).await?;
        }
        // A paying event for an order already paid: hold the invariant all the same (a job
        // an operator cancelled by mistake, say, is ready again).
        None if pays && repo::status(tx, order_id).await? == Some(OrderStatus::Paid) => {
            dispatch::ensure_job(tx, order_id).await?;
        }
        None => {}
    }
    Ok(changed)
}

async fn find_order(
    tx: &mut Transaction<'_, Postgres>,
    facts: &SessionFacts,
) -> Result<Option<OrderId>, sqlx::Error> {
    let candidates = [
        facts
            .metadata
            .get("order_id")
            .and_then(|s| OrderId::parse(s)),
        facts
            .client_reference_id
            .as_deref()
            .and_then(OrderId::parse),
    ];
    for candidate in candidates.into_iter().flatten() {
        let found: Option<OrderId> =
            sqlx::query_scalar(r#"SELECT order_id FROM h2s_orders WHERE order_id = $1"#)
                .bind(&candidate)
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    sqlx::query_scalar(r#"SELECT order_id FROM h2s_orders WHERE stripe_session_id = $1"#)
        .bind(&facts.session_id)
        .fetch_optional(&mut **tx)
        .await
}

/// An order for a session we have no record of (written elsewhere, or lost): built from the
/// session's own data, under the id it names when it names one.
async fn create_from_session(
    tx: &mut Transaction<'_, Postgres>,
    facts: &SessionFacts,
) -> Result<OrderId, ApplyError> {
    let email = facts
        .customer_email
        .clone()
        .ok_or(ApplyError::Unattributable)?;
    let order_id = facts
        .metadata
        .get("order_id")
        .and_then(|s| OrderId::parse(s))
        .or_else(|| {
            facts
                .client_reference_id
                .as_deref()
                .and_then(OrderId::parse)
        })
        .unwrap_or_else(OrderId::generate);
    let mut metadata = facts.metadata.clone();
    for reserved in ["order_id", "job_id", "checkout_trace_id"] {
        metadata.remove(reserved);
    }
    let trace = facts
        .metadata
        .get("checkout_trace_id")
        .and_then(|t| uuid::Uuid::parse_str(t).ok());
    // ON CONFLICT: a concurrent delivery for the same session may have created it first.
    sqlx::query(
        r#"
        INSERT INTO h2s_orders
            (order_id, status, customer_email, customer_name, customer_phone, metadata_json,
             amount_total, currency, checkout_trace_id)
        VALUES ($1, 'pending_payment', $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (order_id) DO NOTHING
        "#,
    )
    .bind(&order_id)
    .bind(email)
    .bind(facts.customer_name.as_deref())
    .bind(facts.customer_phone.as_deref())
    .bind(serde_json::to_value(&metadata).expect("metadata serialises"))
    .bind(facts.amount_total)
    .bind(facts.currency.as_deref())
    .bind(trace)
    .execute(&mut **tx)
    .await?;
    tracing::warn!(order_id = %order_id, "order created from a Stripe session we had no record of");
    Ok(order_id)
}

impl From<ApplyError> for crate::outbox::TaskError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Database(e) => e.into(),
            other => crate::outbox::TaskError::permanent_from(other),
        }
    }
}
