//! Who may use the console, as extractors: [`Operator`] (a logged-in operator; a page for
//! anyone else redirects to the login form) and [`OperatorPost`] (an operator's form, its
//! CSRF token checked). A handler's signature says which it needs; no body checks by hand.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use secrecy::SecretString;
use serde::{Deserialize, de::DeserializeOwned};

use super::{
    auth, pages,
    respond::{Refusal, page, to_login},
};
use crate::http::state::AppState;

/// A logged-in operator: the admin token and the session cookie.
pub(crate) struct Operator {
    token: SecretString,
    session: String,
}

impl Operator {
    fn from_headers(state: &AppState, headers: &HeaderMap) -> Option<Operator> {
        let token = state.settings.http.admin_token.clone()?;
        let session = auth::session(headers, &token)?;
        Some(Operator { token, session })
    }

    /// The token every form of this session carries.
    pub(crate) fn csrf(&self) -> String {
        auth::csrf_token(&self.token, &self.session)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        Operator::from_headers(state, &parts.headers).ok_or_else(to_login)
    }
}

/// A console POST: a logged-in operator (else 401), a form carrying this session's CSRF token
/// (else 403), and the form's fields as `F` (else 400).
pub(crate) struct OperatorPost<F> {
    pub operator: Operator,
    pub form: F,
}

/// The form of a button that sends nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct NoFields {}

impl<F: DeserializeOwned> FromRequest<AppState> for OperatorPost<F> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let Some(operator) = Operator::from_headers(state, req.headers()) else {
            return Err(Refusal::NotLoggedIn.into_response());
        };
        let unreadable = || {
            page(
                StatusCode::BAD_REQUEST,
                pages::refused("This form could not be read."),
            )
        };
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| unreadable())?;
        let csrf = url::form_urlencoded::parse(&body)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned());
        if !auth::csrf_matches(&operator.token, &operator.session, csrf.as_deref()) {
            return Err(Refusal::Csrf.into_response());
        }
        let form = serde_urlencoded::from_bytes(&body).map_err(|_| unreadable())?;
        Ok(OperatorPost { operator, form })
    }
}
