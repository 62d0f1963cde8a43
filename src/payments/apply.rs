//! Applying what Stripe says about a Checkout Session to our order. The webhook (layer 2) and
//! the reconciler (layer 3) both come here, so a missed webhook repaired by a sweep has
//! exactly the effect the webhook would have had.

use sqlx::{Postgres, Transaction};

use super::{error::ApplyError, event::apply_event, money};
use crate::{
    orders::{
        self, OrderId, OrderStatus, SessionLink,
        transition::{Amounts, PaymentEvent},
    },
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

/// Applies `event` for the session to its order, inside `tx`:
/// finds the order (by `metadata.order_id`, then `client_reference_id`, then the session id),
/// or creates it from the session so that a payment is never lost; records the session and
/// its PaymentIntent (applying the refunds and disputes parked for it, which come first:
/// they happened later); then [`apply_event`].
#[tracing::instrument(skip_all, fields(session_id = %facts.session_id, order_id))]
pub async fn apply_session(
    tx: &mut Transaction<'_, Postgres>,
    facts: &SessionFacts,
    event: PaymentEvent,
) -> Result<Applied, ApplyError> {
    if let Some(payment_intent) = &facts.payment_intent {
        money::lock_payment_intent(tx, payment_intent).await?;
    }
    let (order_id, created) = match find_order(tx, facts).await? {
        Some(id) => (id, false),
        None => (create_from_session(tx, facts).await?, true),
    };
    tracing::Span::current().record("order_id", tracing::field::display(&order_id));
    let session = SessionLink {
        id: &facts.session_id,
        url: facts.url.as_deref(),
        expires_at: facts.expires_at,
    };
    orders::store_session(tx, &order_id, &session).await?;
    let amounts = Amounts {
        amount_total: facts.amount_total,
        currency: facts.currency.clone(),
        ..Amounts::default()
    };
    if let Some(payment_intent) = &facts.payment_intent {
        // Boxed (and its type erased): the refunds and disputes it applies nest another
        // `apply_event`, deep enough to overflow the compiler's `Send` check otherwise.
        let store: std::pin::Pin<Box<dyn Future<Output = Result<(), ApplyError>> + Send + '_>> =
            Box::pin(money::store_payment_intent(
                tx,
                &order_id,
                payment_intent,
                &amounts,
            ));
        store.await?;
    }
    let changed = apply_event(tx, &order_id, event, &amounts, None).await?;
    Ok(Applied {
        order_id,
        created,
        changed,
    })
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
    let adopted = crate::orders::repo::AdoptedOrder {
        order_id: &order_id,
        email: &email,
        name: facts.customer_name.as_deref(),
        phone: facts.customer_phone.as_deref(),
        metadata: &metadata,
        amount_total: facts.amount_total,
        currency: facts.currency.as_deref(),
        checkout_trace_id: trace,
    };
    crate::orders::repo::insert_adopted(tx, &adopted).await?;
    tracing::warn!(order_id = %order_id, "order created from a Stripe session we had no record of");
    Ok(order_id)
}
