//! What a scraper or an orchestrator probes: liveness, readiness and the `/metrics` text.

use axum::{Json, extract::State, http::header, response::IntoResponse};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    openapi::schemas::{ErrorBody, Ok},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, body = Ok)))]
pub async fn healthz() -> Json<Ok> {
    Json(Ok { ok: true })
}

/// The database answers and takes writes.
// A standby after failover, or a primary switched read-only, is not ready: checkouts and
// webhooks would answer 503.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", responses(
    (status = 200, body = Ok),
    (status = 503, description = "database unreachable or read-only", body = ErrorBody),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ok>, ApiError> {
    if !crate::db::writable(&state.pool).await? {
        return Err(ApiError::ReadOnly);
    }
    Result::Ok(Json(Ok { ok: true }))
}

/// Prometheus (OpenMetrics) text; see the README's metrics table.
// This process's counters and histograms, plus the gauges read from the database (outbox
// depth and oldest age by kind, dead tasks, the invariant, the last successful sweep).
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics", responses(
    (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = crate::scrape::render_fresh(&state.pool).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}
