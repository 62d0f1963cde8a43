//! Checkout Sessions: the calls the worker and the reconciler make.

use std::collections::HashMap;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, RetrieveCheckoutSession,
};
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};
pub use stripe_shared::{CheckoutSession, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use uuid::Uuid;

use super::client::{StripeCallError, StripeHttp};
use crate::orders::{OrderId, repo::SessionInputs};

/// One key per order, for every attempt of every process: Stripe replays the first answer
/// instead of creating a second session.
pub fn idempotency_key(order_id: &OrderId) -> String {
    format!("h2s-checkout-session-{}", order_id.as_str())
}

/// A created (or replayed) session.
#[derive(Debug, Clone)]
pub struct CreatedSession {
    pub id: String,
    pub url: Option<String>,
}

#[tracing::instrument(skip_all, fields(order_id = %order.order_id))]
pub async fn create(
    client: &StripeHttp,
    order: &SessionInputs,
    job_id: Uuid,
) -> Result<CreatedSession, StripeCallError> {
    let line_items: Vec<CreateCheckoutSessionLineItems> = order
        .cart_json
        .iter()
        .map(|line| {
            let mut item = CreateCheckoutSessionLineItems::new();
            item.price = Some(line.price_id.as_str().to_owned());
            item.quantity = Some(u64::from(line.qty.get()));
            item
        })
        .collect();
    let mut metadata: HashMap<String, String> = order.metadata_json.clone().into_iter().collect();
    metadata.insert("order_id".into(), order.order_id.as_str().to_owned());
    metadata.insert("job_id".into(), job_id.to_string());
    if let Some(trace) = order.checkout_trace_id {
        metadata.insert("checkout_trace_id".into(), trace.to_string());
    }
    let mut request = CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Payment)
        .line_items(line_items)
        .customer_email(order.customer_email.clone())
        .client_reference_id(order.order_id.as_str())
        .metadata(metadata);
    if let Some(url) = &order.success_url {
        request = request.success_url(url.clone());
    }
    if let Some(url) = &order.cancel_url {
        request = request.cancel_url(url.clone());
    }
    let key = IdempotencyKey::new(idempotency_key(&order.order_id))
        .expect("an order id makes a valid idempotency key");
    let started = std::time::Instant::now();
    let result = request
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(client)
        .await;
    crate::metrics::observe_stripe_call("create_session", started.elapsed(), result.is_ok());
    let session = result?;
    Ok(CreatedSession {
        id: session.id.as_str().to_owned(),
        url: session.url,
    })
}

#[tracing::instrument(skip(client))]
pub async fn retrieve(
    client: &StripeHttp,
    session_id: &str,
) -> Result<CheckoutSession, StripeCallError> {
    let started = std::time::Instant::now();
    let result = RetrieveCheckoutSession::new(session_id).send(client).await;
    crate::metrics::observe_stripe_call("retrieve_session", started.elapsed(), result.is_ok());
    result
}
