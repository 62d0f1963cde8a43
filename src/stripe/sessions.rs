//! Checkout Sessions: the calls the worker and the reconciler make.

use std::collections::HashMap;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionPaymentIntentDataCaptureMethod, RetrieveCheckoutSession,
};
use stripe_client_core::{IdempotencyKey, RequestBuilder, StripeRequest};
use stripe_shared::CheckoutSession;
use uuid::Uuid;

use super::{
    client::{StripeCallError, StripeHttp},
    session_facts::SessionFacts,
};
use crate::orders::{CaptureMethod, OrderId, repo::SessionInputs};

/// One key per order, for every attempt of every process: Stripe replays the first answer
/// instead of creating a second session.
pub fn idempotency_key(order_id: &OrderId) -> String {
    format!("h2s-checkout-session-{}", order_id.as_str())
}

/// The key of a payment attempt's session: the checkout's is [`idempotency_key`]; each new
/// payment link of a lapsed hold (attempt 1, 2, ...) has its own, as stable.
pub fn attempt_idempotency_key(order_id: &OrderId, attempt: i32) -> String {
    match attempt {
        0 => idempotency_key(order_id),
        n => format!("{}-{n}", idempotency_key(order_id)),
    }
}

/// A created (or replayed, or found) session.
#[derive(Debug, Clone)]
pub struct CreatedSession {
    pub id: String,
    pub url: Option<String>,
    /// Unix seconds; Stripe's default is 24 h after creation.
    pub expires_at: Option<i64>,
}

/// The create request for an order, with a deterministic body.
///
/// Stripe compares an idempotent request's parameters with the first request's, and
/// async-stripe encodes `metadata` from a `HashMap`, whose order depends on a per-process
/// random seed: a retry from another process would send the same parameters in another
/// order. So the encoded form is put in one canonical order (pairs sorted by key; every
/// array index is explicit in the key, so the order carries no meaning).
struct CreateRequest(CreateCheckoutSession);

impl StripeRequest for CreateRequest {
    type Output = CheckoutSession;

    fn build(&self) -> RequestBuilder {
        let mut request = self.0.build();
        request.body = request.body.as_deref().map(canonical_form);
        request
    }
}

/// A form body with its pairs sorted by key (then value), re-encoded.
fn canonical_form(body: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn create_request(order: &SessionInputs, job_id: Uuid) -> CreateRequest {
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
    if CaptureMethod::parse(&order.capture_method) == Some(CaptureMethod::Manual) {
        // A hold: the PaymentIntent waits in `requires_capture` until the job is completed.
        let mut data = CreateCheckoutSessionPaymentIntentData::new();
        data.capture_method = Some(CreateCheckoutSessionPaymentIntentDataCaptureMethod::Manual);
        request = request.payment_intent_data(data);
    }
    CreateRequest(request)
}

/// The exact form body `create` sends for this order (for tests and diagnostics).
pub fn create_body(order: &SessionInputs, job_id: Uuid) -> String {
    create_request(order, job_id)
        .build()
        .body
        .unwrap_or_default()
}

#[tracing::instrument(skip_all, fields(order_id = %order.order_id))]
pub async fn create(
    client: &StripeHttp,
    order: &SessionInputs,
    job_id: Uuid,
) -> Result<CreatedSession, StripeCallError> {
    let key = IdempotencyKey::new(attempt_idempotency_key(&order.order_id, order.pay_attempt))
        .expect("an order id makes a valid idempotency key");
    let answer = client
        .send_json(create_request(order, job_id).build(), Some(key))
        .await?;
    let facts = SessionFacts::read(&answer).map_err(|missing| {
        StripeCallError::Decode(format!("a session answer without {missing}"))
    })?;
    Ok(CreatedSession {
        id: facts.session_id,
        url: facts.url,
        expires_at: facts.expires_at,
    })
}

/// The session as Stripe has it now, read as sessions in events are (any API version).
#[tracing::instrument(skip(client))]
pub async fn retrieve(
    client: &StripeHttp,
    session_id: &str,
) -> Result<SessionFacts, StripeCallError> {
    let answer = client
        .send_json(RetrieveCheckoutSession::new(session_id).build(), None)
        .await?;
    SessionFacts::read(&answer)
        .map_err(|missing| StripeCallError::Decode(format!("a session answer without {missing}")))
}

/// Pages of sessions looked through by [`find_for_order`] before giving up.
const FIND_MAX_PAGES: usize = 10;

/// The session created for `order_id` since `since` (unix seconds), found by its
/// `metadata.order_id` in Stripe's list of sessions (newest first, 100 per call). For an
/// `idempotency_error`: a request under the order's key reached Stripe before, so its
/// session is there; Stripe has no lookup by metadata, hence the list, bounded in pages.
#[tracing::instrument(skip(client))]
pub async fn find_for_order(
    client: &StripeHttp,
    order_id: &OrderId,
    since: i64,
) -> Result<Option<CreatedSession>, StripeCallError> {
    let mut after: Option<String> = None;
    for _ in 0..FIND_MAX_PAGES {
        let mut query = vec![
            ("limit", "100".to_owned()),
            ("created[gte]", since.to_string()),
        ];
        if let Some(after) = &after {
            query.push(("starting_after", after.clone()));
        }
        let page = client.get_json("/checkout/sessions", &query).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        if let Some(found) = data
            .iter()
            .find(|s| s["metadata"]["order_id"].as_str() == Some(order_id.as_str()))
        {
            return Ok(found["id"].as_str().map(|id| CreatedSession {
                id: id.to_owned(),
                url: found["url"].as_str().map(str::to_owned),
                expires_at: found["expires_at"].as_i64(),
            }));
        }
        after = data
            .last()
            .and_then(|s| s["id"].as_str())
            .map(str::to_owned);
        if page["has_more"].as_bool() != Some(true) || after.is_none() {
            break;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_sorts_pairs_and_keeps_every_value() {
        let body =
            "mode=payment&metadata%5Bz%5D=1&metadata%5Ba%5D=a+b&line_items%5B0%5D%5Bprice%5D=p";
        let canonical = canonical_form(body);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(canonical.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("line_items[0][price]".into(), "p".into()),
                ("metadata[a]".into(), "a b".into()),
                ("metadata[z]".into(), "1".into()),
                ("mode".into(), "payment".into()),
            ]
        );
    }
}
