//! What a failed Stripe call was, and whose fault: that decides what becomes of the order.

use std::time::Duration;

use stripe_client_core::StripeClientErr;

#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    #[error("stripe answered {status} ({code}): {message}")]
    Api {
        status: u16,
        /// `error.code`, else `error.type`.
        code: String,
        /// `error.type`: `invalid_request_error`, `idempotency_error`, `api_error`, ...
        kind: String,
        /// `error.param`: the request parameter at fault, when Stripe names one.
        param: Option<String>,
        message: String,
        retry_after: Option<Duration>,
        should_retry: Option<bool>,
    },
    #[error("stripe call timed out")]
    Timeout,
    /// The request never got an answer (connection refused or reset, TLS, DNS): the error
    /// without its URL.
    #[error("stripe unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    /// async-stripe hands over only a message for an answer it could not read.
    #[error("stripe answer not understood: {0}")]
    Decode(String),
}

/// Whose fault a failed call is: that decides what becomes of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Stripe refused the order's own content (an unknown price, an invalid amount): a 400
    /// `invalid_request_error` naming a parameter. Retrying cannot help; the order fails.
    Order,
    /// The idempotency key was first used with other parameters: a request under this key
    /// was already made, so a session may exist. Find it; never fail the order for this.
    IdempotencyKey,
    /// Ours or Stripe's, not the order's: a wrong or revoked key (401/403), a rate limit, a
    /// 5xx, a timeout, a connection error, an answer we could not read, any error that names
    /// no parameter. The order stays payable and the call is retried.
    Outage,
}

impl Blame {
    /// The metric label of an outage's cause.
    pub fn outage_class(error: &StripeCallError) -> &'static str {
        match error {
            StripeCallError::Api { status: 401, .. } => "authentication",
            StripeCallError::Api { status: 403, .. } => "permission",
            StripeCallError::Api { status: 429, .. } => "rate_limit",
            StripeCallError::Api { status, .. } if *status >= 500 => "server",
            StripeCallError::Api { .. } => "other",
            StripeCallError::Timeout => "timeout",
            StripeCallError::Transport(_) => "connection",
            StripeCallError::Decode(_) => "decode",
        }
    }
}

impl StripeCallError {
    /// Whose fault this failure is (see [`Blame`]).
    pub fn blame(&self) -> Blame {
        match self {
            // Stripe itself says a retry can succeed (a lock contention, say).
            StripeCallError::Api {
                should_retry: Some(true),
                ..
            } => Blame::Outage,
            StripeCallError::Api { kind, .. } if kind == "idempotency_error" => {
                Blame::IdempotencyKey
            }
            StripeCallError::Api {
                status: 400,
                kind,
                param: Some(_),
                ..
            } if kind == "invalid_request_error" => Blame::Order,
            _ => Blame::Outage,
        }
    }

    /// Worth calling again later: everything but the order's own fault.
    pub fn is_retryable(&self) -> bool {
        self.blame() != Blame::Order
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            StripeCallError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            StripeCallError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl StripeClientErr for StripeCallError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        StripeCallError::Decode(msg.to_string())
    }
}

pub(crate) fn transport_error(e: reqwest::Error) -> StripeCallError {
    if e.is_timeout() {
        StripeCallError::Timeout
    } else {
        // Without the URL: it is ours, but keeps the message short and free of query strings.
        StripeCallError::Transport(e.without_url())
    }
}
