use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::orders::{OrderId, repo};

/// `GET /api/orders/{order_id}`: the status the storefront polls. No personal data.
pub async fn status(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let order_id = OrderId::parse(&order_id).ok_or(ApiError::NotFound)?;
    let view = repo::view(&state.pool, &order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let pay = match (&view.session_id, &view.session_url) {
        (Some(id), url) => json!({ "session_id": id, "session_url": url }),
        _ => Value::Null,
    };
    let mut body = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    body["ok"] = json!(true);
    body["pay"] = pay;
    Ok(Json(body))
}
