//! What a scraper or an orchestrator probes: liveness, readiness and the `/metrics` text.

use axum::{Json, extract::State, http::header, response::IntoResponse};

use super::{ApiError, AppState, openapi::schemas::Ok};

/// The process is up.
pub async fn healthz() -> Json<Ok> {
    Json(Ok { ok: true })
}

/// The database answers and takes writes (a standby after failover, or a primary switched
/// read-only, is not ready: checkouts and webhooks would answer 503).
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ok>, ApiError> {
    if !crate::db::writable(&state.pool).await? {
        return Err(ApiError::ReadOnly);
    }
    Result::Ok(Json(Ok { ok: true }))
}

/// `GET /metrics`: this process's counters and histograms, plus the gauges read from the
/// database (outbox depth and oldest age by kind, dead tasks, the invariant, the last
/// successful sweep). See `crate::metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = crate::scrape::render_fresh(&state.pool).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}
