//! `POST /api/admin/orders/{order_id}/pay-link`: a new Checkout Session for an order whose
//! hold lapsed (`authorization_expired`), made by the worker; its payment enters the flow
//! again (`payments::hold::pay_link`).

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    admin::Admin,
    body::Path,
    openapi::{
        operator::PayLinkAnswer,
        schemas::{AdminErrors, ErrorBody, Pay},
    },
};
use crate::{orders::OrderId, payments::hold};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pay_link))
}

/// A new payment link for a lapsed hold, once per lapse: asked again before that attempt is
/// paid or lapses, the same attempt (and, once made, its session) is answered.
#[utoipa::path(post, path = "/api/admin/orders/{order_id}/pay-link", tag = "admin", operation_id = "create_pay_link",
    params(("order_id" = String, Path)),
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "the new attempt is written; the worker makes its session (poll status_url)", body = PayLinkAnswer),
        (status = 404, description = "no such order", body = ErrorBody),
        (status = 409, description = "not_lapsed: the order's hold did not lapse (authorization_expired)", body = ErrorBody),
        AdminErrors,
    ))]
pub async fn pay_link(
    _: Admin,
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<(StatusCode, Json<PayLinkAnswer>), ApiError> {
    let order_id = OrderId::parse(&order_id).ok_or(ApiError::NotFound)?;
    let link = hold::pay_link(&state.pool, &order_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PayLinkAnswer {
            ok: true,
            order_id: link.order_id.to_string(),
            attempt: link.attempt,
            status: link.status.as_str().to_owned(),
            pay: link.session_id.map(|session_id| Pay {
                session_id,
                session_url: link.session_url,
            }),
            status_url: format!("/api/orders/{}", link.order_id),
        }),
    ))
}
