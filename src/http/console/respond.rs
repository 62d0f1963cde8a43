//! How the console answers: a page that is never cached and runs no script, and its refusals.

use axum::{
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::Markup;

use super::pages;

pub(crate) fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            // No script, no frames, no form posting elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        Html(markup.into_string()),
    )
        .into_response()
}

/// Why a console POST was refused.
pub(crate) enum Refusal {
    NotLoggedIn,
    Csrf,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NotLoggedIn => page(StatusCode::UNAUTHORIZED, pages::refused("Log in first.")),
            Refusal::Csrf => page(
                StatusCode::FORBIDDEN,
                pages::refused(
                    "This form is stale or did not come from the console (CSRF check failed).",
                ),
            ),
        }
    }
}

pub(crate) fn to_login() -> Response {
    Redirect::to("/admin/login").into_response()
}

pub(crate) fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::refused("Something failed; the cause is in the api's log."),
    )
}
