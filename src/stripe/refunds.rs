//! `POST /v1/refunds` for an operator's refund request: the request's id is the
//! `Idempotency-Key` and `metadata[h2s_refund_request]`, and the body is the same bytes on
//! every attempt of every process, so Stripe replays the one refund rather than making a
//! second. Answers are read as the refund's events are ([`MoneyFacts`]).

use serde_json::Value;

use super::{
    client::{StripeCallError, StripeHttp},
    money_facts::{MoneyFacts, REQUEST_METADATA},
};

/// One refund to ask Stripe for.
#[derive(Debug, Clone)]
pub struct RefundCall<'a> {
    /// The operator's refund request (its id): the idempotency key.
    pub request_id: &'a str,
    pub payment_intent: &'a str,
    pub amount: i64,
    pub order_id: &'a str,
}

impl RefundCall<'_> {
    /// The form body, its pairs in one fixed order.
    pub fn body(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("amount", &self.amount.to_string())
            .append_pair(&format!("metadata[{REQUEST_METADATA}]"), self.request_id)
            .append_pair("metadata[order_id]", self.order_id)
            .append_pair("payment_intent", self.payment_intent)
            .append_pair("reason", "requested_by_customer")
            .finish()
    }

    /// The refund as its event would tell it (the PaymentIntent filled in if the answer
    /// names none).
    fn facts(&self, refund: &Value) -> Result<MoneyFacts, StripeCallError> {
        let mut refund = refund.clone();
        if refund["payment_intent"].as_str().is_none() {
            refund["payment_intent"] = Value::from(self.payment_intent);
        }
        match MoneyFacts::read("refund.updated", &refund) {
            Ok(Some(facts)) => Ok(facts),
            Ok(None) => Err(StripeCallError::Decode("a refund read as no refund".into())),
            Err(missing) => Err(StripeCallError::Decode(format!(
                "a refund answer without its {}",
                missing.0
            ))),
        }
    }
}

/// Makes (or, under the same key, replays) the refund.
#[tracing::instrument(skip_all, fields(order_id = call.order_id, refund_request_id = call.request_id))]
pub async fn create(
    client: &StripeHttp,
    call: &RefundCall<'_>,
) -> Result<MoneyFacts, StripeCallError> {
    let refund = client
        .post_form("/refunds", call.body(), call.request_id)
        .await?;
    call.facts(&refund)
}

/// The refund made for the request, found in the PaymentIntent's refunds by its metadata: for
/// a request older than Stripe's 24-hour idempotency window, where a replay is no longer
/// guaranteed. `None`: no refund was ever made for it.
#[tracing::instrument(skip_all, fields(order_id = call.order_id, refund_request_id = call.request_id))]
pub async fn find(
    client: &StripeHttp,
    call: &RefundCall<'_>,
) -> Result<Option<MoneyFacts>, StripeCallError> {
    let query = [
        ("payment_intent", call.payment_intent.to_owned()),
        ("limit", "100".to_owned()),
    ];
    let page = client.get_json("/refunds", &query).await?;
    let data = page["data"].as_array().cloned().unwrap_or_default();
    data.iter()
        .find(|r| r["metadata"][REQUEST_METADATA].as_str() == Some(call.request_id))
        .map(|r| call.facts(r))
        .transpose()
}

/// Stripe refused the refund itself (`charge_already_refunded`, `amount_too_large`,
/// `charge_disputed`, an unknown PaymentIntent): retrying cannot help. Its reason, as the
/// request keeps it.
pub fn refusal(error: &StripeCallError) -> Option<String> {
    match error {
        StripeCallError::Api {
            status: 400 | 402 | 404,
            kind,
            code,
            message,
            should_retry,
            ..
        } if kind == "invalid_request_error" && *should_retry != Some(true) => {
            Some(format!("{code}: {message}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_same_bytes_every_time_and_names_the_request() {
        let call = RefundCall {
            request_id: "5f0c",
            payment_intent: "pi_1",
            amount: 2_500,
            order_id: "ORD-1",
        };
        assert_eq!(
            call.body(),
            "amount=2500&metadata%5Bh2s_refund_request%5D=5f0c&metadata%5Border_id%5D=ORD-1\
             &payment_intent=pi_1&reason=requested_by_customer"
        );
    }
}
