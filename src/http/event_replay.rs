//! `POST /api/admin/event-deliveries/{id}/replay` and
//! `POST /api/admin/event-endpoints/{id}/replay` (`{"since"}`): deliveries back to pending,
//! their attempts reset, sent again with the same `webhook-id`.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, AppState, JsonBody,
    admin::Admin,
    body::Path,
    openapi::schemas::{AdminErrors, BodyErrors, ErrorBody},
};
use crate::events::delivery::{
    health::{self, DeliveryRow},
    replay,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(replay_one))
        .routes(routes!(replay_since))
        .routes(routes!(deliveries))
}

/// `GET /api/admin/event-endpoints/{id}/deliveries`: newest first.
#[derive(Serialize, ToSchema)]
pub struct Deliveries {
    pub ok: bool,
    pub deliveries: Vec<DeliveryRow>,
}

/// An endpoint's deliveries, newest first (at most 100).
#[utoipa::path(get, path = "/api/admin/event-endpoints/{id}/deliveries", tag = "admin",
    operation_id = "list_event_deliveries",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = Deliveries, links(
            ("replay" = (operation_id = "replay_event_delivery",
                parameters(("id" = "$response.body#/deliveries/0/delivery_id")))),
        )),
        (status = 404, description = "no endpoint has this id", body = ErrorBody),
        AdminErrors,
    ))]
pub async fn deliveries(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deliveries>, ApiError> {
    let endpoint_id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    if !health::endpoint_exists(&state.pool, endpoint_id).await? {
        return Err(ApiError::NotFound);
    }
    let deliveries = health::recent(&state.pool, endpoint_id, 100).await?;
    Ok(Json(Deliveries {
        ok: true,
        deliveries,
    }))
}

/// `POST /api/admin/event-endpoints/{id}/replay`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaySinceBody {
    /// Every delivery to the endpoint of an event created at or after this time.
    pub since: DateTime<Utc>,
}

/// How many deliveries are pending again.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub ok: bool,
    pub replayed: u64,
}

/// Send one delivery again (same `webhook-id`), its retry schedule started afresh.
#[utoipa::path(post, path = "/api/admin/event-deliveries/{id}/replay", tag = "admin", operation_id = "replay_event_delivery",
    params(("id" = i64, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = Replayed),
        (status = 404, description = "no delivery has this id", body = ErrorBody), AdminErrors))]
pub async fn replay_one(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    if !replay::replay_one(&state.pool, id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(delivery_id = id, "event delivery replayed");
    Ok(Json(Replayed {
        ok: true,
        replayed: 1,
    }))
}

/// Send again every delivery to the endpoint of an event since a time (same `webhook-id`s).
#[utoipa::path(post, path = "/api/admin/event-endpoints/{id}/replay", tag = "admin", operation_id = "replay_event_endpoint",
    params(("id" = Uuid, Path)), request_body = ReplaySinceBody,
    security(("admin_token" = [])),
    responses((status = 200, body = Replayed),
        (status = 400, description = "invalid input (the field named)", body = ErrorBody),
        (status = 404, description = "no endpoint has this id", body = ErrorBody),
        BodyErrors, AdminErrors))]
pub async fn replay_since(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<ReplaySinceBody>, ApiError>,
) -> Result<Json<Replayed>, ApiError> {
    let endpoint_id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let JsonBody(body) = body?;
    let replayed = replay::replay_since(&state.pool, endpoint_id, body.since)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(%endpoint_id, since = %body.since, replayed, "event deliveries replayed");
    Ok(Json(Replayed { ok: true, replayed }))
}
