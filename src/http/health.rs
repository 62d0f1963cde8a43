use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::{ApiError, AppState};

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// The database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Ok(Json(json!({ "ok": true })))
}
