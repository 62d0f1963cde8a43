//! The dev pay page a session's `url` points at: a browser can pay or cancel, and the signed
//! webhook goes to the target as Stripe's would. Not behind the fault layer.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::state::Shared;
use crate::webhook::Delivery;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/pay/{id}", get(pay_page))
        .route("/pay/{id}/complete", post(pay_complete))
        .route("/pay/{id}/expire", post(pay_expire))
        .route("/shop/thanks", get(shop_thanks))
        .route("/shop/cart", get(shop_cart))
}

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

/// Pays by card: a manual-capture session's payment is only authorized (a hold).
async fn pay_complete(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let result = shared.complete(&id, "paid").await;
    let held = shared
        .lock()
        .session(&id)
        .is_some_and(|s| s["payment_status"] == "unpaid");
    let title = if held {
        "Payment authorized (a hold, captured later)"
    } else {
        "Payment complete"
    };
    pay_result(&shared, &id, result, "success_url", title)
}

async fn pay_expire(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let result = shared.expire(&id).await;
    pay_result(&shared, &id, result, "cancel_url", "Checkout cancelled")
}

fn pay_result(
    shared: &Shared,
    id: &str,
    result: anyhow::Result<Delivery>,
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

/// Where `api --dev` sends a customer back after paying, when the checkout named no
/// `success_url` and none is configured.
async fn shop_thanks() -> Response {
    page(
        StatusCode::OK,
        "Thank you",
        "<p>The sandbox took the payment; the order turns <code>paid</code> once its webhook \
         is applied (<code>GET /api/orders/ORD-...</code>).</p>",
    )
}

/// Where `api --dev` sends a customer back after cancelling, when the checkout named no
/// `cancel_url` and none is configured.
async fn shop_cart() -> Response {
    page(
        StatusCode::OK,
        "Your cart",
        "<p>The checkout was cancelled; nothing was charged.</p>",
    )
}
