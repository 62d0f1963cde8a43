use axum::{Json, extract::State};

use super::{ApiError, AppState, openapi::schemas::Ok};

/// The process is up.
pub async fn healthz() -> Json<Ok> {
    Json(Ok { ok: true })
}

/// The database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ok>, ApiError> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Result::Ok(Json(Ok { ok: true }))
}
