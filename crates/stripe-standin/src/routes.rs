//! Stripe's paths (behind the fault layer), and the router that adds the pay page (not
//! faulted) from `pay.rs`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::change;
use crate::error::StripeError;
use crate::fault_layer::{error_response, fault_layer};
use crate::lists::ListQuery;
use crate::pay;
use crate::state::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route(
            "/v1/checkout/sessions",
            post(create_session).get(list_sessions),
        )
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/events", get(list_events))
        .route(
            "/v1/refunds",
            post(crate::refunds::create).get(crate::refunds::list),
        )
        .route("/v1/payment_intents/{id}", get(crate::intent_routes::get))
        .route(
            "/v1/payment_intents/{id}/capture",
            post(crate::intent_routes::capture),
        )
        .route(
            "/v1/payment_intents/{id}/cancel",
            post(crate::intent_routes::cancel),
        )
        // Checked after the fault layer (faults, latency, the key), before the handler.
        .route_layer(middleware::from_fn(crate::validate::layer))
        .route_layer(middleware::from_fn_with_state(shared.clone(), fault_layer));
    api.merge(pay::router())
        .fallback(unknown_url)
        .with_state(shared)
}

fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn create_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let answer = shared.create_session(key, &body);
    // The session is made; a held answer waits (the caller may be killed meanwhile).
    let mut held = shared.session_answers_held.subscribe();
    let _ = held.wait_for(|held| !*held).await;
    answer.respond(key)
}

async fn get_session(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let expand = crate::expand::paths(q.as_deref().unwrap_or_default());
    let inner = shared.lock();
    match inner.session(&id).cloned() {
        Some(session) => json_response(200, inner.expand_session(session, &expand).to_string()),
        None => error_response(&StripeError::resource_missing(
            "checkout.session",
            &id,
            "session",
        )),
    }
}

/// Expiring through the API emits `checkout.session.expired` like Stripe; the webhook is
/// delivered in the background so the API answer does not wait on the receiver.
async fn expire_session(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.transition(&id, "checkout.session.expired", change::expire) {
        Ok(event) => {
            let session = event["data"]["object"].to_string();
            tokio::spawn(async move {
                if let Err(err) = shared.deliver(event).await {
                    tracing::warn!(error = %err, "stand-in: webhook delivery failed");
                }
            });
            json_response(200, session)
        }
        Err(err) => error_response(&err),
    }
}

async fn list_events(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let query = ListQuery::parse(q.as_deref());
    json_response(200, shared.list_events(&query).to_string())
}

async fn list_sessions(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let query = ListQuery::parse(q.as_deref());
    json_response(200, shared.list_sessions(&query).to_string())
}

async fn unknown_url(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let message = format!("Unrecognized request URL ({method}: {}).", uri.path());
    let mut err = StripeError::invalid("resource_missing", message, None);
    err.status = 404;
    error_response(&err)
}
