//! Every area's routes, each with its own description, merged here and only here: a route
//! and its OpenAPI operation come from one annotated handler (`utoipa_axum::routes!`), so
//! neither can be added without the other. `/openapi.json` serves the description these
//! routes make.

use axum::{Json, response::IntoResponse};
use utoipa_axum::router::OpenApiRouter;

use super::{
    admin, event_endpoints, event_replay, job_actions, openapi, orders, pay_link, probes, refunds,
    shop, state::AppState, webhook,
};

pub(super) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(shop::routes())
        .merge(orders::routes())
        .merge(webhook::routes())
        .merge(probes::routes())
        .merge(admin::routes())
        .merge(refunds::routes())
        .merge(job_actions::routes())
        .merge(pay_link::routes())
        .merge(event_endpoints::routes())
        .merge(event_replay::routes())
}

/// The description as served and committed (`docs/openapi.json`).
pub fn document() -> String {
    let (_, description) = api_routes().split_for_parts();
    openapi::render(&description)
}

/// `GET /openapi.json`.
pub(super) async fn serve_document() -> impl IntoResponse {
    let value: serde_json::Value =
        serde_json::from_str(&document()).expect("the description is JSON");
    Json(value)
}
