use axum::{extract::State, http::header, response::IntoResponse};

use super::AppState;

/// `GET /metrics`: this process's counters and histograms, plus the gauges read from the
/// database (outbox depth and oldest age by kind, dead tasks, the invariant, the last
/// successful sweep). See `crate::metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = crate::metrics::render_fresh(&state.pool).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}
