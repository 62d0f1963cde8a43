//! `GET /admin/event-feed`: each event endpoint's health (last success, failing since,
//! pending, the oldest undelivered event's age) and its failing deliveries, with *replay*
//! (one delivery) and *replay since* (every delivery to the endpoint since a time); each
//! delivery links to its log.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use maud::{Markup, html};
use serde::Deserialize;
use sqlx::PgPool;

use super::{
    operator::{Operator, OperatorPost},
    pages::{csrf_field, layout},
    respond::{failed, page},
};
use crate::{
    events::delivery::{
        health::{self, DeliveryRow, EndpointHealth},
        replay,
    },
    http::state::AppState,
};

/// Failing deliveries shown per endpoint.
const SHOWN: i64 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/event-feed", get(feed))
        .route(
            "/admin/event-feed/deliveries/{id}",
            get(super::delivery_log::log),
        )
        .route(
            "/admin/event-feed/deliveries/{id}/replay",
            post(replay_delivery),
        )
        .route(
            "/admin/event-feed/endpoints/{id}/replay",
            post(replay_endpoint),
        )
}

#[derive(Deserialize)]
pub(super) struct Notice {
    notice: Option<String>,
}

async fn feed(
    operator: Operator,
    State(state): State<AppState>,
    Query(notice): Query<Notice>,
) -> Response {
    match load(&state.pool).await {
        Ok(endpoints) => page(
            StatusCode::OK,
            markup(&endpoints, notice.notice.as_deref(), &operator.csrf()),
        ),
        Err(e) => failed(e),
    }
}

async fn load(pool: &PgPool) -> Result<Vec<(EndpointHealth, Vec<DeliveryRow>)>, sqlx::Error> {
    let mut out = vec![];
    for e in health::endpoints(pool).await? {
        let failing = health::failing(pool, e.endpoint_id, SHOWN).await?;
        out.push((e, failing));
    }
    Ok(out)
}

#[derive(Deserialize)]
pub(super) struct ReplayForm {
    since: Option<String>,
}

async fn replay_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: OperatorPost<super::operator::NoFields>,
) -> Response {
    let found = match id.parse::<i64>() {
        Ok(id) => replay::replay_one(&state.pool, id).await,
        Err(_) => Ok(false),
    };
    match found {
        Ok(true) => {
            tracing::info!(delivery_id = %id, "console: event delivery replayed");
            Redirect::to(&format!("/admin/event-feed?notice=Delivery+{id}+replayed"))
                .into_response()
        }
        Ok(false) => not_found("No delivery has this id."),
        Err(e) => failed(e),
    }
}

async fn replay_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OperatorPost { form, .. }: OperatorPost<ReplayForm>,
) -> Response {
    let Some(since) = super::actions::utc(form.since.as_deref()) else {
        return page(
            StatusCode::BAD_REQUEST,
            super::pages::refused("Give the time to replay from."),
        );
    };
    let Ok(endpoint_id) = uuid::Uuid::parse_str(&id) else {
        return not_found("No endpoint has this id.");
    };
    match replay::replay_since(&state.pool, endpoint_id, since).await {
        Ok(Some(n)) => {
            tracing::info!(%endpoint_id, %since, replayed = n, "console: event deliveries replayed");
            Redirect::to(&format!("/admin/event-feed?notice={n}+deliveries+replayed"))
                .into_response()
        }
        Ok(None) => not_found("No endpoint has this id."),
        Err(e) => failed(e),
    }
}

fn not_found(message: &str) -> Response {
    page(StatusCode::NOT_FOUND, super::pages::refused(message))
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or("-".into(), super::format::when)
}

fn markup(
    endpoints: &[(EndpointHealth, Vec<DeliveryRow>)],
    notice: Option<&str>,
    csrf: &str,
) -> Markup {
    layout(
        "Event feed",
        html! {
            @if let Some(n) = notice { p.notice id="notice" { (n) } }
            @if endpoints.is_empty() { p id="endpoints-none" { "No event endpoint." } }
            (new_endpoint_form(csrf))
            @for (e, failing) in endpoints {
                (endpoint(e, failing, csrf))
            }
        },
    )
}

fn endpoint(e: &EndpointHealth, failing: &[DeliveryRow], csrf: &str) -> Markup {
    html! {
        section.endpoint id={ "endpoint-" (e.endpoint_id) } {
            h2 { code { (e.url) } }
            table.health {
                tr { th { "state" } th { "last success" } th { "failing since" } th { "pending" }
                     th { "oldest undelivered" } th { "failed" } }
                tr {
                    td { @if e.enabled { span.ok { "enabled" } } @else {
                        span.bad { "disabled (" (e.disabled_reason.as_deref().unwrap_or("operator")) ")" } } }
                    td.last-success { (when(e.last_success)) }
                    td.failing-since { @if e.failing_since.is_some() { span.bad { (when(e.failing_since)) } } @else { "-" } }
                    td.pending { (e.pending) }
                    td.oldest { (format!("{:.0} s", e.oldest_undelivered_age_s)) }
                    td.failed { (e.failed) }
                }
            }
            (endpoint_actions(e, csrf))
            form method="post" action={ "/admin/event-feed/endpoints/" (e.endpoint_id) "/replay" } {
                (csrf_field(csrf))
                label { "Replay every delivery since (UTC, the times on this page are UTC) "
                    input type="datetime-local" name="since" class="replay-since-time" required; }
                " " button type="submit" class="replay-since" { "Replay since" }
            }
            @if failing.is_empty() { p.ok { "No failing delivery." } } @else {
                (failing_table(failing, csrf))
            }
        }
    }
}

fn new_endpoint_form(csrf: &str) -> Markup {
    html! {
        h2 { "New endpoint" }
        form method="post" action="/admin/event-feed/endpoints" {
            (csrf_field(csrf))
            label { "URL " input type="url" name="url" id="endpoint-url" required size="50"; }
            " " label { "Event types (comma-separated, empty: all) "
                input type="text" name="event_types" id="endpoint-types" size="40"; }
            " " button type="submit" id="endpoint-create" { "Create" }
        }
    }
}

fn endpoint_actions(e: &EndpointHealth, csrf: &str) -> Markup {
    let action = |what: &str| format!("/admin/event-feed/endpoints/{}/{what}", e.endpoint_id);
    html! {
        form.inline method="post" action=(action("enabled")) {
            (csrf_field(csrf))
            input type="hidden" name="enabled" value=(if e.enabled { "false" } else { "true" });
            button type="submit" class="endpoint-toggle" { @if e.enabled { "Disable" } @else { "Enable" } }
        }
        " "
        form.inline method="post" action=(action("rotate")) {
            (csrf_field(csrf)) button type="submit" class="endpoint-rotate" { "Rotate secret" }
        }
        " "
        form.inline method="post" action=(action("delete")) {
            (csrf_field(csrf)) button type="submit" class="endpoint-delete" { "Delete" }
        }
    }
}

fn failing_table(failing: &[DeliveryRow], csrf: &str) -> Markup {
    html! {
        table.failing {
            tr { th { "delivery" } th { "event" } th { "status" } th { "attempts" }
                 th { "last error" } th { "next attempt" } th {} }
            @for d in failing {
                tr.failing-delivery id={ "delivery-" (d.delivery_id) } {
                    td { a href={ "/admin/event-feed/deliveries/" (d.delivery_id) } { (d.delivery_id) } }
                    td { code { (d.event_id) } " " (d.event_type) }
                    td.bad { (d.status) }
                    td { (d.attempts) }
                    td { (d.last_error.as_deref().unwrap_or("-")) }
                    td { @if d.status == "pending" { (when(Some(d.next_attempt_at))) } @else { "-" } }
                    td { form method="post" action={ "/admin/event-feed/deliveries/" (d.delivery_id) "/replay" } {
                        (csrf_field(csrf))
                        button type="submit" class="replay" { "Replay" }
                    } }
                }
            }
        }
    }
}
