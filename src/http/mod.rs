//! Routing, shared state and request plumbing of the HTTP API.

mod admin;
mod console;
mod error;
pub mod openapi;
mod orders;
mod probes;
pub mod request_trace;
mod shop;
mod webhook;

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequest, Request},
    http::{StatusCode, header::CONTENT_TYPE},
    routing::{get, post},
};
pub use error::ApiError;
use secrecy::SecretString;
use sqlx::PgPool;
use tower_http::timeout::TimeoutLayer;

use crate::checkout::Checkouts;

/// Largest accepted request body, in bytes (documented in the README).
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub checkouts: Checkouts,
    pub webhook_secret: Option<SecretString>,
    pub admin_token: Option<SecretString>,
    /// Only for admin-triggered reconcile sweeps; `None` when the api has no Stripe key.
    pub stripe: Option<crate::stripe::StripeHttp>,
    /// Return URLs for checkouts that carry none.
    pub checkout_urls: crate::checkout::request::UrlDefaults,
    /// See `app::ApiConfig::worker_max_attempts`.
    pub worker_max_attempts: i32,
}

/// The API's routes. Every request is bounded by `request_timeout` (tower-http), and every
/// error answer carries the JSON error shape, including the ones axum and tower-http make
/// without a body (405, the timeout's 503).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let routes = Router::new()
        .route("/api/shop", post(shop::create_checkout))
        .route("/api/orders/{order_id}", get(orders::status))
        .route("/api/stripe-webhook", post(webhook::receive))
        .route("/api/admin/orders", get(admin::orders))
        .route("/api/admin/dispatch-jobs", get(admin::dispatch_jobs))
        .route("/api/admin/outbox/dead", get(admin::dead_tasks))
        .route("/api/admin/outbox/{id}/retry", post(admin::retry_task))
        .route("/api/admin/reconcile", post(admin::reconcile))
        .route("/metrics", get(probes::metrics))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .merge(console::routes())
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(error::json_error_bodies))
        .with_state(state);
    request_trace::layer(routes)
}

/// A JSON body: `application/json` required, size-limited, errors in the API's shape.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the body could not be read".into())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
    }
}
