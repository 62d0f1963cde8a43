//! `POST /v1/refunds` and `GET /v1/refunds` as Stripe answers them: a refund of a paid
//! session's PaymentIntent, built from Stripe's sample refund object
//! (`fixtures/refund.object.json`, copied from `fixtures3.json`), under Stripe's idempotency
//! rules (the same key and parameters replay the first answer, other parameters are an
//! `idempotency_error`) and with its refusals (`charge_already_refunded`,
//! `amount_too_large`, `charge_disputed`, an unknown PaymentIntent). A refund records
//! `refund.created` and then `charge.refunded`, Stripe's order, and delivers them to the
//! webhook target, if any, in the background. It succeeds at once, or, after
//! [`StandIn::set_refunds_pending`], is `pending` until a test settles it
//! (`refund_settle.rs`: `refund.updated`, and `refund.failed` for a failure). A test can hold
//! the answers back after the refund is made ([`StandIn::hold_refund_answers`]): the window in
//! which a caller crashes or the webhook arrives first.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::charge::now;
use crate::error::StripeError;
use crate::idempotency::Answer;
use crate::objects::random_id;
use crate::state::{Inner, Shared};

const REFUND_FIXTURE: &str = include_str!("fixtures/refund.object.json");

/// The request's form parameters, in a canonical order (Stripe compares parameters, not
/// their order).
fn params(body: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `amount` asked for (all that is `left` when none).
fn amount(params: &[(String, String)], left: i64) -> Result<i64, StripeError> {
    let Some(text) = param(params, "amount") else {
        return Ok(left);
    };
    text.parse::<i64>().ok().filter(|a| *a > 0).ok_or_else(|| {
        let message = format!("Invalid positive integer: {text}");
        StripeError::invalid("parameter_invalid_integer", message, Some("amount".into()))
    })
}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

impl Inner {
    /// Makes the refund `params` ask for: the refund, and the events it records.
    fn make_refund(
        &mut self,
        params: &[(String, String)],
    ) -> Result<(Value, Vec<Value>), StripeError> {
        let pi = param(params, "payment_intent")
            .ok_or_else(|| StripeError::parameter_missing("payment_intent"))?;
        let session_id = self
            .sessions()
            .iter()
            .find(|s| s["payment_intent"] == pi)
            .and_then(|s| s["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| StripeError::resource_missing("payment_intent", pi, "payment_intent"))?;
        let charge = self
            .charge(&session_id)
            .map_err(|m| StripeError::invalid("payment_intent_unexpected_state", m, None))?;
        if charge.dispute.is_some() {
            let message = format!(
                "Charge {} has been charged back; cannot issue a refund.",
                charge.id
            );
            return Err(StripeError::invalid("charge_disputed", message, None));
        }
        let left = charge.refundable();
        if left <= 0 {
            let message = format!("Charge {} has already been refunded.", charge.id);
            return Err(StripeError::invalid(
                "charge_already_refunded",
                message,
                None,
            ));
        }
        let amount = amount(params, left)?;
        if amount > left {
            let message = format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                dollars(amount),
                dollars(left)
            );
            return Err(StripeError::invalid(
                "amount_too_large",
                message,
                Some("amount".into()),
            ));
        }
        // A pending refund counts as refunded on the charge until it fails.
        charge.refunded += amount;
        let (charge_json, charge_id) = (charge.json(), charge.id.clone());
        let status = self.refunds.new_status();
        let refund = refund_json(params, amount, &charge_id, pi, status);
        self.refunds.push(refund.clone());
        let events = vec![
            self.record("refund.created", refund.clone()),
            self.record("charge.refunded", charge_json),
        ];
        Ok((refund, events))
    }
}

/// Stripe's sample refund, made this refund.
fn refund_json(
    params: &[(String, String)],
    amount: i64,
    charge: &str,
    pi: &str,
    status: &str,
) -> Value {
    let mut refund: Value =
        serde_json::from_str(REFUND_FIXTURE).expect("the refund fixture is JSON");
    let metadata: serde_json::Map<String, Value> = params
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::from(v.as_str())))
        })
        .collect();
    let fields = json!({
        "id": random_id("re_", 24), "amount": amount, "charge": charge, "created": now(),
        "currency": "usd", "metadata": metadata, "payment_intent": pi,
        "reason": param(params, "reason"), "status": status,
    });
    for (k, v) in fields.as_object().expect("an object") {
        refund[k] = v.clone();
    }
    if status == "pending" {
        refund["pending_reason"] = json!("processing");
    }
    refund
}

/// `POST /v1/refunds`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let params = params(&body);
    let (answer, events, mut held) = {
        let mut inner = shared.lock();
        let held = inner.refunds.subscribe();
        if let Some(replay) = key.and_then(|k| inner.idempotency.replay(k, &params)) {
            return replay.respond(key);
        }
        let (answer, events) = match inner.make_refund(&params) {
            Ok((refund, events)) => (
                Answer {
                    status: 200,
                    body: refund.to_string(),
                    replayed: false,
                },
                events,
            ),
            Err(err) => (Answer::from(err), vec![]),
        };
        if let Some(key) = key {
            inner.idempotency.remember(key, params, &answer);
        }
        (answer, events, held)
    };
    let deliverer = shared.clone();
    tokio::spawn(async move {
        for event in events {
            if let Err(err) = deliverer.deliver(event).await {
                tracing::warn!(error = %err, "stand-in: refund webhook delivery failed");
            }
        }
    });
    // The refund is made; a held answer waits (the caller may be killed meanwhile).
    let _ = held.wait_for(|held| !*held).await;
    answer.respond(key)
}

/// `GET /v1/refunds?payment_intent=...`: newest first.
pub(crate) async fn list(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let query = params(q.as_deref().unwrap_or_default());
    let pi = param(&query, "payment_intent");
    let data: Vec<Value> = (shared.lock().refunds.made().iter().rev())
        .filter(|r| pi.is_none_or(|pi| r["payment_intent"] == pi))
        .take(100)
        .cloned()
        .collect();
    let body = json!({"object": "list", "data": data, "has_more": false, "url": "/v1/refunds"});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
