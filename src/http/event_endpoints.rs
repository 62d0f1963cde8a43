//! `/api/admin/event-endpoints`: where the event feed is delivered. The URL passes the
//! address policy (https to a public address, unless `--event-endpoints-allow-private`)
//! before anything is written, the host's every address included.

use axum::{Json, extract::State, http::StatusCode};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{
    ApiError, AppState,
    admin::Admin,
    body::{JsonBody, Path},
    openapi::{
        feed::{EndpointCreated, EndpointList, EndpointUpdated, SecretRotated},
        schemas::{AdminErrors, BodyErrors, ErrorBody, Ok as OkBody},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::events::{
    address::AddressRefused,
    endpoints::{self, Patch, RawEndpoint, RawPatch, input},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(update, delete))
        .routes(routes!(rotate_secret))
}

/// Subscribe an endpoint to the feed: its signing secret is in this answer only.
#[utoipa::path(post, path = "/api/admin/event-endpoints", tag = "admin", operation_id = "create_event_endpoint",
    request_body = crate::http::openapi::feed::EndpointBody,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "created, enabled; `secret` is shown here only", body = EndpointCreated, links(
            ("update_event_endpoint" = (operation_id = "update_event_endpoint", parameters(("id" = "$response.body#/id")))),
            ("rotate_event_endpoint_secret" = (operation_id = "rotate_event_endpoint_secret", parameters(("id" = "$response.body#/id")))),
            ("list_event_deliveries" = (operation_id = "list_event_deliveries", parameters(("id" = "$response.body#/id")))),
            ("replay_event_endpoint" = (operation_id = "replay_event_endpoint", parameters(("id" = "$response.body#/id")))),
            ("delete_event_endpoint" = (operation_id = "delete_event_endpoint", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 400, description = "invalid_input (an unknown event type, a malformed URL) or address_refused (not https, or a host on a loopback, private or other non-public address): nothing written", body = ErrorBody),
        BodyErrors, AdminErrors,
    ))]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    body: Result<JsonBody<RawEndpoint>, ApiError>,
) -> Result<(StatusCode, Json<EndpointCreated>), ApiError> {
    let JsonBody(raw) = body?;
    let url = input::url(&raw.url).map_err(invalid)?;
    let types = input::event_types(raw.event_types).map_err(invalid)?;
    state
        .settings
        .shared
        .event_endpoints()
        .resolve(&url)
        .await
        .map_err(refused)?;
    let created = endpoints::create(&state.pool, &url, &types).await?;
    let endpoint = created.endpoint;
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated {
            ok: true,
            id: endpoint.id,
            url: endpoint.url,
            event_types: endpoint.event_types,
            secret: created.secret.expose_secret().to_owned(),
            enabled: endpoint.enabled,
        }),
    ))
}

/// Every endpoint, oldest first, without secrets.
#[utoipa::path(get, path = "/api/admin/event-endpoints", tag = "admin", operation_id = "list_event_endpoints",
    security(("admin_token" = [])),
    responses((status = 200, body = EndpointList), AdminErrors))]
pub async fn list(_: Admin, State(state): State<AppState>) -> Result<Json<EndpointList>, ApiError> {
    Ok(Json(EndpointList {
        ok: true,
        endpoints: endpoints::list(&state.pool).await?,
    }))
}

/// Enable or disable an endpoint, or change the types it wants (`null`: every type).
#[utoipa::path(patch, path = "/api/admin/event-endpoints/{id}", tag = "admin", operation_id = "update_event_endpoint",
    params(("id" = Uuid, Path)),
    request_body = crate::http::openapi::feed::EndpointPatch,
    security(("admin_token" = [])),
    responses((status = 200, body = EndpointUpdated),
        (status = 400, description = "invalid_input: nothing to change, an unknown event type; nothing written", body = ErrorBody),
        (status = 404, description = "no such endpoint", body = ErrorBody),
        BodyErrors, AdminErrors))]
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<RawPatch>, ApiError>,
) -> Result<Json<EndpointUpdated>, ApiError> {
    let id = parse_id(&id)?;
    let JsonBody(raw) = body?;
    let patch = Patch::parse(raw).map_err(invalid)?;
    let endpoint = endpoints::update(&state.pool, id, &patch)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(EndpointUpdated { ok: true, endpoint }))
}

/// Delete an endpoint, with its pending deliveries and their log.
#[utoipa::path(delete, path = "/api/admin/event-endpoints/{id}", tag = "admin", operation_id = "delete_event_endpoint",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = OkBody),
        (status = 404, description = "no such endpoint", body = ErrorBody), AdminErrors))]
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OkBody>, ApiError> {
    let id = parse_id(&id)?;
    if !endpoints::delete(&state.pool, id).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(OkBody { ok: true }))
}

/// A new signing secret, shown in this answer only; the previous one still signs for 24 h.
#[utoipa::path(post, path = "/api/admin/event-endpoints/{id}/rotate-secret", tag = "admin", operation_id = "rotate_event_endpoint_secret",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = SecretRotated),
        (status = 404, description = "no such endpoint", body = ErrorBody), AdminErrors))]
pub async fn rotate_secret(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SecretRotated>, ApiError> {
    let id = parse_id(&id)?;
    let rotated = endpoints::rotate_secret(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(SecretRotated {
        ok: true,
        id: rotated.id,
        secret: rotated.secret.expose_secret().to_owned(),
        previous_secret_until: rotated.previous_secret_until,
    }))
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound)
}

fn invalid((field, message): input::Invalid) -> ApiError {
    ApiError::invalid(field, message)
}

fn refused(e: AddressRefused) -> ApiError {
    ApiError::Refused {
        status: StatusCode::BAD_REQUEST,
        code: "address_refused",
        message: e.to_string(),
        field: Some("url"),
    }
}
