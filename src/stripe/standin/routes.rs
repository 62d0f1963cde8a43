//! Stripe's paths (behind the fault layer) and the dev pay page (not faulted).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::fault_layer::{error_response, fault_layer};
use super::objects::StripeError;
use super::state::{ListQuery, Shared, change};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route(
            "/v1/checkout/sessions",
            post(create_session).get(list_sessions),
        )
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/events", get(list_events))
        .route_layer(middleware::from_fn_with_state(shared.clone(), fault_layer));
    let pay = Router::new()
        .route("/pay/{id}", get(pay_page))
        .route("/pay/{id}/complete", post(pay_complete))
        .route("/pay/{id}/expire", post(pay_expire));
    api.merge(pay).fallback(unknown_url).with_state(shared)
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
    let mut response = json_response(answer.status, answer.body);
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
        response.headers_mut().insert("idempotency-key", key);
    }
    if answer.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

async fn get_session(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.lock().session(&id) {
        Some(session) => json_response(200, session.to_string()),
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

// --- the dev pay page --------------------------------------------------------------------

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\">\
         <h1>{title}</h1>{body}<p><small>Stripe stand-in (test mode)</small></p></body></html>",
        title = escape(title)
    );
    (status, Html(html)).into_response()
}

fn text(session: &Value, field: &str) -> String {
    escape(session[field].as_str().unwrap_or("-"))
}

async fn pay_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = shared.lock().session(&id).cloned() else {
        return page(StatusCode::NOT_FOUND, "No such checkout session", "");
    };
    let amount = session["amount_total"].as_i64().unwrap_or(0);
    let status = text(&session, "status");
    let id = escape(&id);
    let forms = if status == "open" {
        format!(
            "<form method=\"post\" action=\"/pay/{id}/complete\"><button>Pay</button></form>\
             <form method=\"post\" action=\"/pay/{id}/expire\"><button>Cancel (expire)</button></form>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p>Session <code>{id}</code> for {email}</p><p>Total: ${dollars}.{cents:02} USD</p>\
         <p>Status: {status}, payment: {payment}</p>{forms}",
        email = text(&session, "customer_email"),
        dollars = amount / 100,
        cents = amount % 100,
        payment = text(&session, "payment_status"),
    );
    page(StatusCode::OK, "Checkout", &body)
}

async fn pay_complete(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let result = shared.complete(&id, "paid").await;
    pay_result(&shared, &id, result, "success_url", "Payment complete")
}

async fn pay_expire(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let result = shared.expire(&id).await;
    pay_result(&shared, &id, result, "cancel_url", "Checkout cancelled")
}

fn pay_result(
    shared: &Shared,
    id: &str,
    result: anyhow::Result<super::Delivery>,
    return_field: &str,
    title: &str,
) -> Response {
    match result {
        Ok(delivery) => {
            let session = shared.lock().session(id).cloned().unwrap_or_default();
            let back = match session[return_field].as_str() {
                Some(url) => format!("<p><a href=\"{}\">Return to the shop</a></p>", escape(url)),
                None => String::new(),
            };
            let webhook = match delivery.status {
                0 => "no webhook target is set".to_owned(),
                s => format!("the webhook target answered {s}"),
            };
            let body = format!(
                "<p>Event <code>{}</code>: {webhook}.</p>{back}",
                text(&delivery.event, "id")
            );
            page(StatusCode::OK, title, &body)
        }
        Err(err) => page(
            StatusCode::BAD_REQUEST,
            "Could not do that",
            &format!("<p>{}</p>", escape(&format!("{err:#}"))),
        ),
    }
}
