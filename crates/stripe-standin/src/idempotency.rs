//! Stripe's idempotency rules for `POST /v1/checkout/sessions`: a key with the same parameters
//! replays the first answer; with other parameters it is an `idempotency_error`.

use std::collections::HashMap;

use crate::error::StripeError;

/// An answer to `POST /v1/checkout/sessions`.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
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
