//! The one error type of the HTTP API: `{"ok": false, "error": {"code", "message", "field"}}`.
//! A 5xx never carries internal detail; its cause is logged instead.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("unprocessable: {message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        extra: serde_json::Value,
    },
    #[error("not configured: {0}")]
    NotConfigured(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => ApiError::Unavailable(e.to_string()),
            sqlx::Error::Database(ref d)
                if d.code()
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
            {
                // admin_shutdown, cannot_connect_now, connection exceptions
                ApiError::Unavailable(e.to_string())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::checkout::CheckoutError> for ApiError {
    fn from(e: crate::checkout::CheckoutError) -> Self {
        match e {
            crate::checkout::CheckoutError::KeyReused => ApiError::Conflict(e.to_string()),
            crate::checkout::CheckoutError::Database(d) => d.into(),
        }
    }
}

impl From<crate::webhook::HandleError> for ApiError {
    fn from(e: crate::webhook::HandleError) -> Self {
        match e {
            crate::webhook::HandleError::Database(d) => d.into(),
            crate::webhook::HandleError::Job(j) => ApiError::Internal(j.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field, extra) = match &self {
            ApiError::Invalid { field, message } => (
                StatusCode::BAD_REQUEST,
                "invalid_input",
                message.clone(),
                Some(field.clone()),
                None,
            ),
            ApiError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                m.clone(),
                None,
                None,
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required".into(),
                None,
                None,
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource".into(),
                None,
                None,
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone(), None, None),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over the {} byte limit", super::BODY_LIMIT),
                Some("body".into()),
                None,
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json".into(),
                Some("content-type".into()),
                None,
            ),
            ApiError::Unprocessable {
                code,
                message,
                extra,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                *code,
                message.clone(),
                None,
                Some(extra.clone()),
            ),
            ApiError::NotConfigured(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                m.clone(),
                None,
                None,
            ),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is temporarily unavailable; retry shortly".into(),
                    None,
                    None,
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred".into(),
                    None,
                    None,
                )
            }
        };
        let mut error = json!({ "code": code, "message": message });
        if let Some(field) = field {
            error["field"] = json!(field);
        }
        let mut body = json!({ "ok": false, "error": error });
        if let Some(serde_json::Value::Object(extra)) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        (status, Json(body)).into_response()
    }
}

/// Gives a body in the API's error shape to an error answer that has none: axum's 405 (its
/// `Allow` header kept), tower-http's timeout (503 `timeout`), any other bodiless 4xx/5xx.
pub async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed on this route".to_owned(),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "timeout",
            "the request took too long; retry shortly (with the same Idempotency-Key)".to_owned(),
        ),
        StatusCode::NOT_FOUND => ("not_found", "no such resource".to_owned()),
        other => (
            "error",
            other
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase(),
        ),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let body = Json(json!({ "ok": false, "error": { "code": code, "message": message } }));
    (parts, body).into_response()
}
