//! `GET /v1/payment_intents/{id}`, `POST /v1/payment_intents/{id}/capture` and
//! `POST /v1/payment_intents/{id}/cancel`, as Stripe answers them (`holds.rs` decides), under
//! Stripe's idempotency rules: the same key and parameters replay the first answer (no second
//! capture), other parameters (or another PaymentIntent or endpoint) are an
//! `idempotency_error`; all under one lock, so concurrent requests under one key cannot both
//! execute. Events are delivered to the webhook target in the background. A hold whose
//! `capture_before` has passed lapses when next looked at, as Stripe's clock would have made it.
//! A test can hold the answers of captures and cancels back after they are made
//! ([`crate::StandIn::hold_payment_intent_answers`]).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use crate::error::StripeError;
use crate::expand;
use crate::fault_layer::error_response;
use crate::form;
use crate::holds;
use crate::idempotency::Answer;
use crate::state::{Inner, Shared};

impl Shared {
    /// Delivers `events` in order, in the background.
    pub(crate) fn deliver_later(self: &Arc<Self>, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            for event in events {
                if let Err(err) = shared.deliver(event).await {
                    tracing::warn!(error = %err, "stand-in: webhook delivery failed");
                }
            }
        });
    }
}

/// `GET /v1/payment_intents/{id}`.
pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let expand = expand::paths(query.as_deref().unwrap_or_default());
    let (answer, lapsed) = {
        let mut inner = shared.lock();
        let lapsed = inner.lapse_if_due(&id);
        let answer = (inner.intent_json(&id))
            .map(|pi| inner.expand_intent(pi, &expand))
            .ok_or_else(|| StripeError::resource_missing("payment_intent", &id, "intent"));
        (answer, lapsed)
    };
    shared.deliver_later(lapsed);
    match answer {
        Ok(pi) => answer_of(Ok(pi)).respond(None),
        Err(err) => error_response(&err),
    }
}

fn answer_of(result: Result<Value, StripeError>) -> Answer {
    match result {
        Ok(object) => Answer {
            status: 200,
            body: object.to_string(),
            replayed: false,
        },
        Err(err) => err.into(),
    }
}

/// What a POST on a PaymentIntent does, under the lock.
type Act = fn(&mut Inner, &str, &[(String, String)]) -> Result<(Value, Vec<Value>), StripeError>;

/// Runs `act` on the PaymentIntent `id` once per idempotency key; the answer.
async fn post(
    shared: Arc<Shared>,
    headers: &HeaderMap,
    (id, action): (String, &str),
    body: &str,
    act: Act,
) -> Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let params = form::pairs(body);
    // Stripe keys a request by its endpoint as well as its parameters.
    let mut keyed = vec![(String::new(), format!("/v1/payment_intents/{id}/{action}"))];
    keyed.extend(params.iter().cloned());
    let (answer, events, mut held) = {
        let mut inner = shared.lock();
        let held = inner.intents.subscribe();
        if let Some(replay) = key.and_then(|k| inner.idempotency.replay(k, &keyed)) {
            return replay.respond(key);
        }
        let mut events = inner.lapse_if_due(&id);
        let (answer, made) = match act(&mut inner, &id, &params) {
            Ok((object, made)) => {
                let object = inner.expand_intent(object, &expand::paths(body));
                (answer_of(Ok(object)), made)
            }
            Err(err) => (answer_of(Err(err)), Vec::new()),
        };
        events.extend(made);
        if let Some(key) = key {
            inner.idempotency.remember(key, keyed, &answer);
        }
        (answer, events, held)
    };
    let made = !events.is_empty();
    shared.deliver_later(events);
    if made {
        // Made; a held answer waits (the caller may be killed meanwhile).
        let _ = held.wait_for(|held| !*held).await;
    }
    answer.respond(key)
}

/// `POST /v1/payment_intents/{id}/capture`.
pub(crate) async fn capture(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    post(
        shared,
        &headers,
        (id, "capture"),
        &body,
        |inner, id, params| inner.capture(id, holds::amount_to_capture(params)),
    )
    .await
}

/// `POST /v1/payment_intents/{id}/cancel`.
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    post(
        shared,
        &headers,
        (id, "cancel"),
        &body,
        |inner, id, params| inner.cancel(id, holds::reason(params)),
    )
    .await
}
