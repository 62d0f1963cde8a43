use super::{
    ApiError, AppState,
    body::Path,
    openapi::schemas::{ErrorBody, OrderStatusBody, Pay},
};
use crate::{checkout::view, orders::OrderId};
use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// `GET /api/orders/{order_id}`: the status the storefront polls. No personal data.
#[utoipa::path(get, path = "/api/orders/{order_id}", tag = "storefront", operation_id = "order_status",
    params(("order_id" = String, Path, description = "ORD- and 16 characters")),
    responses(
        (status = 200, body = OrderStatusBody),
        (status = 404, description = "no such order", body = ErrorBody),
        (status = 503, description = "database unreachable, or the request ran past its time limit", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderStatusBody>, ApiError> {
    let order_id = OrderId::parse(&order_id).ok_or(ApiError::NotFound)?;
    let view = view::view(&state.pool, &order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(OrderStatusBody {
        ok: true,
        order_id: view.order_id.to_string(),
        status: view.status.to_string(),
        job_id: view.job_id,
        job_status: view.job_status.map(|s| s.to_string()),
        pay: view.session_id.map(|session_id| Pay {
            session_id,
            session_url: view.session_url,
        }),
        failure_reason: view.failure_reason,
        checkout_trace_id: view.checkout_trace_id,
        created_at: view.created_at,
        paid_at: view.paid_at,
        amount_refunded: view.amount_refunded,
    }))
}
