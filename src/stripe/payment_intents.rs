//! A hold's PaymentIntent (manual capture): retrieve it, capture it, cancel it. Each call that
//! changes it carries one idempotency key per order and payment attempt, and the same body on
//! every attempt of every process, so a retry or a crash replays rather than captures twice.
//! Answers are read as the PaymentIntent's events are ([`MoneyFacts::of_payment_intent`]).

use super::{
    client::{StripeCallError, StripeHttp},
    money_facts::MoneyFacts,
};
use crate::orders::OrderId;

/// The key of the one capture of an order's payment attempt.
pub fn capture_key(order_id: &OrderId, attempt: i32) -> String {
    format!("h2s-capture-{}-{attempt}", order_id.as_str())
}

/// The key of the one release (cancel) of an order's payment attempt.
pub fn release_key(order_id: &OrderId, attempt: i32) -> String {
    format!("h2s-release-{}-{attempt}", order_id.as_str())
}

/// A PaymentIntent answer read as its event would be; `None` when its status tells no
/// hold's fate (still `processing`, say).
fn read(answer: &serde_json::Value) -> Result<Option<MoneyFacts>, StripeCallError> {
    MoneyFacts::of_payment_intent(answer).map_err(|missing| {
        StripeCallError::Decode(format!("a PaymentIntent answer without its {missing}"))
    })
}

/// `GET /v1/payment_intents/{id}` with its charge expanded (the charge says when the hold
/// lapses: `payment_method_details.card.capture_before`).
#[tracing::instrument(skip(client))]
pub async fn retrieve(
    client: &StripeHttp,
    payment_intent: &str,
) -> Result<Option<MoneyFacts>, StripeCallError> {
    let path = format!("/payment_intents/{payment_intent}");
    let answer = client
        .get_json(&path, &[("expand[]", "latest_charge".to_owned())])
        .await?;
    read(&answer)
}

/// `POST /v1/payment_intents/{id}/capture` of `amount` (the rest of the hold is released).
#[tracing::instrument(skip(client, key))]
pub async fn capture(
    client: &StripeHttp,
    payment_intent: &str,
    amount: i64,
    key: &str,
) -> Result<Option<MoneyFacts>, StripeCallError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("amount_to_capture", &amount.to_string())
        .finish();
    let path = format!("/payment_intents/{payment_intent}/capture");
    read(&client.post_form(&path, body, key).await?)
}

/// `POST /v1/payment_intents/{id}/cancel`: the hold released.
#[tracing::instrument(skip(client, key))]
pub async fn cancel(
    client: &StripeHttp,
    payment_intent: &str,
    key: &str,
) -> Result<Option<MoneyFacts>, StripeCallError> {
    let path = format!("/payment_intents/{payment_intent}/cancel");
    read(&client.post_form(&path, String::new(), key).await?)
}

/// What Stripe's refusal of a capture or a cancel says of the hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `charge_expired_for_capture`: the hold lapsed.
    Lapsed,
    /// Another refusal of the request itself (`payment_intent_unexpected_state`: captured or
    /// cancelled already, say): the PaymentIntent's own status tells what became of it.
    AskThePaymentIntent,
}

/// A refusal of the request itself (not an outage): what it says.
pub fn refusal(error: &StripeCallError) -> Option<Refusal> {
    match error {
        StripeCallError::Api { code, .. } if code == "charge_expired_for_capture" => {
            Some(Refusal::Lapsed)
        }
        StripeCallError::Api {
            status: 400 | 402 | 404,
            kind,
            should_retry,
            ..
        } if kind == "invalid_request_error" && *should_retry != Some(true) => {
            Some(Refusal::AskThePaymentIntent)
        }
        _ => None,
    }
}
