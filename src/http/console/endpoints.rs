//! The event feed's endpoints managed from the console, through the same functions as the
//! admin API: create one (its secret shown once), rotate its secret (the new one shown once),
//! enable or disable it, delete it.

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use maud::html;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    operator::{NoFields, OperatorPost},
    pages::{layout, refused},
    respond::{failed, page},
};
use crate::{
    events::endpoints::{self, Patch, input},
    http::state::AppState,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/event-feed/endpoints", post(create))
        .route("/admin/event-feed/endpoints/{id}/rotate", post(rotate))
        .route("/admin/event-feed/endpoints/{id}/enabled", post(enable))
        .route("/admin/event-feed/endpoints/{id}/delete", post(delete))
}

#[derive(Deserialize)]
pub(super) struct NewEndpoint {
    url: String,
    /// Comma-separated; empty: every type.
    #[serde(default)]
    event_types: String,
}

async fn create(
    State(state): State<AppState>,
    OperatorPost { form, .. }: OperatorPost<NewEndpoint>,
) -> Response {
    let names: Vec<String> = form
        .event_types
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    let wanted = (!names.is_empty()).then_some(names);
    let parsed = input::url(&form.url).and_then(|url| Ok((url, input::event_types(wanted)?)));
    let (url, types) = match parsed {
        Ok(parsed) => parsed,
        Err((field, message)) => return bad(&format!("{field}: {message}")),
    };
    if let Err(e) = state.settings.shared.event_endpoints().resolve(&url).await {
        return bad(&format!("url: {e}"));
    }
    match endpoints::create(&state.pool, &url, &types).await {
        Ok(created) => {
            tracing::info!(endpoint_id = %created.endpoint.id, "console: event endpoint created");
            secret_page("Endpoint created", &created.endpoint.url, &created.secret)
        }
        Err(e) => failed(e),
    }
}

async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: OperatorPost<NoFields>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    match endpoints::rotate_secret(&state.pool, id).await {
        Ok(Some(rotated)) => {
            tracing::info!(endpoint_id = %id, "console: event endpoint secret rotated");
            let until = super::format::when(rotated.previous_secret_until);
            secret_page(
                "Secret rotated",
                &format!("endpoint {id}; the previous secret still signs until {until}"),
                &rotated.secret,
            )
        }
        Ok(None) => not_found(),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Enabled {
    enabled: String,
}

async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OperatorPost { form, .. }: OperatorPost<Enabled>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let enabled = form.enabled == "true";
    let patch = Patch {
        enabled: Some(enabled),
        event_types: None,
    };
    match endpoints::update(&state.pool, id, &patch).await {
        Ok(Some(_)) => {
            let what = if enabled { "enabled" } else { "disabled" };
            tracing::info!(endpoint_id = %id, what, "console: event endpoint changed");
            Redirect::to(&format!("/admin/event-feed?notice=Endpoint+{what}")).into_response()
        }
        Ok(None) => not_found(),
        Err(e) => failed(e),
    }
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: OperatorPost<NoFields>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    match endpoints::delete(&state.pool, id).await {
        Ok(true) => {
            tracing::info!(endpoint_id = %id, "console: event endpoint deleted");
            Redirect::to("/admin/event-feed?notice=Endpoint+deleted").into_response()
        }
        Ok(false) => not_found(),
        Err(e) => failed(e),
    }
}

/// The one page that shows a signing secret.
fn secret_page(title: &str, what: &str, secret: &SecretString) -> Response {
    page(
        StatusCode::OK,
        layout(
            title,
            html! {
                p { (what) }
                p { "The signing secret, shown this once (copy it to the receiver now):" }
                pre id="endpoint-secret" { (secret.expose_secret()) }
                p { a href="/admin/event-feed" id="back" { "Back to the event feed" } }
            },
        ),
    )
}

fn bad(message: &str) -> Response {
    page(StatusCode::BAD_REQUEST, refused(message))
}

fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, refused("No endpoint has this id."))
}
