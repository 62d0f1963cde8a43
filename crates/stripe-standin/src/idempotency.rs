//! Stripe's idempotency rules for `POST /v1/checkout/sessions`: a key with the same parameters
//! replays the first answer; with other parameters it is an `idempotency_error`.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::StripeError;

/// An answer to `POST /v1/checkout/sessions` or `POST /v1/refunds`.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

impl Answer {
    /// The answer as Stripe sends it: JSON, the request's `Idempotency-Key` echoed, and
    /// `Idempotent-Replayed: true` on a replay.
    pub(crate) fn respond(&self, key: Option<&str>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body.clone(),
        )
            .into_response();
        if let Some(key) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
            response.headers_mut().insert("idempotency-key", key);
        }
        if self.replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

impl From<StripeError> for Answer {
    fn from(err: StripeError) -> Self {
        Answer {
            status: err.status,
            body: err.body(),
            replayed: false,
        }
    }
}

/// The first answer given for an idempotency key.
struct Stored {
    params: Vec<(String, String)>,
    status: u16,
    body: String,
}

#[derive(Default)]
pub(crate) struct IdempotencyKeys {
    stored: HashMap<String, Stored>,
}

impl IdempotencyKeys {
    /// The answer for a key seen before: the first answer replayed, or an `idempotency_error`
    /// when `params` differ. `None` for a new key.
    pub fn replay(&self, key: &str, params: &[(String, String)]) -> Option<Answer> {
        let stored = self.stored.get(key)?;
        if stored.params != params {
            return Some(StripeError::idempotency(key).into());
        }
        Some(Answer {
            status: stored.status,
            body: stored.body.clone(),
            replayed: true,
        })
    }

    /// Keeps the first answer for `key`. Only answers below 500 are stored (faults never reach
    /// here, so they are never stored).
    pub fn remember(&mut self, key: &str, params: Vec<(String, String)>, answer: &Answer) {
        if answer.status >= 500 {
            return;
        }
        let stored = Stored {
            params,
            status: answer.status,
            body: answer.body.clone(),
        };
        self.stored.insert(key.to_owned(), stored);
    }
}
