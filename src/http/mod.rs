//! Routing, shared state and request plumbing of the HTTP API.

mod admin;
mod body;
mod console;
mod error;
mod event_endpoints;
mod event_replay;
mod job_actions;
pub mod openapi;
mod orders;
mod pay_link;
mod probes;
mod refunds;
pub mod request_trace;
mod routes;
mod shop;
mod state;
mod webhook;

use std::time::Duration;

use axum::{Router, extract::DefaultBodyLimit, http::StatusCode, routing::get};
pub use body::JsonBody;
pub use error::ApiError;
pub use routes::document as openapi_document;
pub use state::{AppState, Webhook};

/// Largest accepted request body, in bytes (documented in the README).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The API's routes and the console's. Every request is bounded by `request_timeout`
/// ([`bounded`]), and every error answer carries the JSON error shape, including the ones
/// axum and tower-http make without a body (405, the timeout's 503).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let (api, _) = routes::api_routes().split_for_parts();
    let routes = api
        .route("/openapi.json", get(routes::serve_document))
        .merge(console::routes())
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(move |req, next| {
            bounded(req, next, request_timeout)
        }))
        .layer(axum::middleware::map_response(error::json_error_bodies))
        .with_state(state);
    request_trace::layer(routes)
}

/// A request still running after `limit` is answered 503 (the JSON body is added by
/// `json_error_bodies`: code `timeout`) and dropped, which rolls back its open transaction.
/// Every step is bounded on its own (acquire, statements, Stripe), so a request this late is
/// waiting on a stalled database connection: the process's connections are distrusted
/// before the request is dropped, so that its own is closed rather than pinged (which could
/// hang until the kernel gives up) when it goes back to the pool.
async fn bounded(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: Duration,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let run = next.run(req);
    tokio::pin!(run);
    tokio::select! {
        response = &mut run => response,
        () = tokio::time::sleep(limit) => {
            crate::db::distrust_open_connections(crate::db::Distrust::Stalled);
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
