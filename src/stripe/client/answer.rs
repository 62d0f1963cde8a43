//! Reading Stripe's answer: the body of a success, or the parts of an error that decide what
//! happens next (its type and parameter, `Retry-After`, `Stripe-Should-Retry`).

use std::time::Duration;

use bytes::Bytes;

use super::error::{StripeCallError, transport_error};

/// The body of a 2xx; any other status as [`StripeCallError::Api`].
pub(crate) async fn read_answer(response: reqwest::Response) -> Result<Bytes, StripeCallError> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let should_retry = response
        .headers()
        .get("Stripe-Should-Retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<bool>().ok());
    let body = response.bytes().await.map_err(transport_error)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let parts = error_parts(&body);
    Err(StripeCallError::Api {
        status,
        code: parts.code,
        kind: parts.kind,
        param: parts.param,
        message: parts.message,
        retry_after,
        should_retry,
    })
}

pub(crate) struct ErrorParts {
    pub(crate) code: String,
    pub(crate) kind: String,
    pub(crate) param: Option<String>,
    pub(crate) message: String,
}

/// Stripe's `{"error": {"code", "type", "param", "message"}}`, best effort.
pub(crate) fn error_parts(body: &[u8]) -> ErrorParts {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &value["error"];
    let kind = error["type"].as_str().unwrap_or("unknown").to_owned();
    ErrorParts {
        code: error["code"].as_str().unwrap_or(&kind).to_owned(),
        param: error["param"]
            .as_str()
            .filter(|p| !p.is_empty())
            .map(|p| p.chars().take(200).collect()),
        message: error["message"]
            .as_str()
            .unwrap_or("no message")
            .chars()
            .take(500)
            .collect(),
        kind,
    }
}
