//! Who may use the console: a logged-in operator, and for a POST, a form of theirs.

use axum::http::HeaderMap;
use secrecy::SecretString;

use super::{auth, respond::Refusal};
use crate::http::state::AppState;

/// A logged-in operator: the admin token and the session cookie.
pub(crate) struct Operator {
    token: SecretString,
    session: String,
}

impl Operator {
    pub(crate) fn from(state: &AppState, headers: &HeaderMap) -> Option<Operator> {
        let token = state.admin_token.clone()?;
        let session = auth::session(headers, &token)?;
        Some(Operator { token, session })
    }

    pub(crate) fn csrf(&self) -> String {
        auth::csrf_token(&self.token, &self.session)
    }

    /// A POST's checks: logged in (else 401) and the form's CSRF token (else 403).
    pub(crate) fn for_post(
        state: &AppState,
        headers: &HeaderMap,
        csrf: Option<&str>,
    ) -> Result<Operator, Refusal> {
        let operator = Operator::from(state, headers).ok_or(Refusal::NotLoggedIn)?;
        if !auth::csrf_matches(&operator.token, &operator.session, csrf) {
            return Err(Refusal::Csrf);
        }
        Ok(operator)
    }
}
