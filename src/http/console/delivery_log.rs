//! `GET /admin/event-feed/deliveries/{id}`: one delivery's log (every attempt kept: when, the
//! receiver's status, the latency, the error, replayed or not), with *Replay*.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use maud::html;

use super::{
    operator::Operator,
    pages::{csrf_field, layout},
    respond::{failed, page},
};
use crate::{events::delivery::health, http::state::AppState};

/// Attempts shown (the log keeps every one for the retention period).
const SHOWN: i64 = 200;

pub(super) async fn log(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return page(
            StatusCode::NOT_FOUND,
            super::pages::refused("No such delivery."),
        );
    };
    let attempts = match health::attempts(&state.pool, id, SHOWN).await {
        Ok(attempts) => attempts,
        Err(e) => return failed(e),
    };
    let csrf = operator.csrf();
    let body = html! {
        form method="post" action={ "/admin/event-feed/deliveries/" (id) "/replay" } {
            (csrf_field(&csrf))
            button type="submit" class="replay" { "Replay" }
        }
        @if attempts.is_empty() { p { "No attempt logged (yet, or past the retention)." } } @else {
            table id="attempts" {
                tr { th { "attempt" } th { "started" } th { "status" } th { "latency" } th { "error" } th { "replay" } }
                @for a in &attempts {
                    tr {
                        td { (a.attempt) }
                        td { (super::format::when_precise(a.started_at)) }
                        td { @match a.status_code { Some(s) => (s), None => "-" } }
                        td { (a.latency_ms) " ms" }
                        td { (a.error.as_deref().unwrap_or("-")) }
                        td { @if a.replay { "yes" } @else { "no" } }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout(&format!("Delivery {id}"), body))
}
