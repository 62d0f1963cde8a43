//! The one error type of the HTTP API: `{"ok": false, "error": {"code", "message", "field"}}`.
//! A 5xx never carries internal detail; its cause is logged instead.

use std::borrow::Cow;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::openapi::schemas::{CheckoutRefused, ErrorBody, ErrorDetail};

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
    /// A domain rule refuses the request (an operator's refund or job action): its own
    /// status (409 or 422) and code.
    #[error("refused ({code}): {message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    #[error("body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Stripe refused the order's own content: the order is `failed` (422, with the order's
    /// id and status URL beside the error).
    #[error("payment setup failed: {reason}")]
    PaymentSetupFailed {
        order_id: String,
        checkout_trace_id: uuid::Uuid,
        reason: String,
    },
    #[error("not configured: {0}")]
    NotConfigured(String),
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database answers but takes no writes (a failover under way): not ready.
    #[error("database read-only")]
    ReadOnly,
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
        match crate::db::outage(&e) {
            Some(_) => ApiError::Unavailable(e),
            None => ApiError::Internal(e.into()),
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

impl From<crate::payments::handle_event::HandleError> for ApiError {
    fn from(e: crate::payments::handle_event::HandleError) -> Self {
        match e {
            crate::payments::handle_event::HandleError::Database(d) => d.into(),
            crate::payments::handle_event::HandleError::Job(
                crate::dispatch::EnsureJobError::Database(d),
            ) => d.into(),
            crate::payments::handle_event::HandleError::Job(j) => ApiError::Internal(j.into()),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Refused { status, .. } => *status,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PaymentSetupFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotConfigured(_) | ApiError::Unavailable(_) | ApiError::ReadOnly => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` object of the body: what a client may see (never a 5xx's cause).
    fn detail(&self) -> ErrorDetail {
        let (code, message, field): (&str, Cow<'_, str>, Option<&str>) = match self {
            ApiError::Invalid { field, message } => ("invalid_input", message.into(), Some(field)),
            ApiError::BadRequest(m) => ("bad_request", m.into(), None),
            ApiError::Unauthorized => (
                "unauthorized",
                "a valid bearer token is required".into(),
                None,
            ),
            ApiError::NotFound => ("not_found", "no such resource".into(), None),
            ApiError::Conflict(m) => ("conflict", m.into(), None),
            ApiError::Refused {
                code,
                message,
                field,
                ..
            } => (code, message.into(), *field),
            ApiError::PayloadTooLarge => (
                "payload_too_large",
                format!("the body is over the {} byte limit", super::BODY_LIMIT).into(),
                Some("body"),
            ),
            ApiError::UnsupportedMediaType => (
                "unsupported_media_type",
                "the body must be application/json".into(),
                Some("content-type"),
            ),
            ApiError::PaymentSetupFailed { reason, .. } => {
                ("payment_setup_failed", reason.into(), None)
            }
            ApiError::NotConfigured(m) => ("not_configured", m.into(), None),
            ApiError::Unavailable(_) | ApiError::ReadOnly => (
                "unavailable",
                "the service is temporarily unavailable; retry shortly".into(),
                None,
            ),
            ApiError::Internal(_) => ("internal", "an internal error occurred".into(), None),
        };
        ErrorDetail {
            code: code.to_owned(),
            message: message.into_owned(),
            field: field.map(str::to_owned),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Unavailable(cause) => tracing::warn!(
                %cause,
                outage = crate::db::outage(cause).map_or("unknown", crate::db::Outage::as_str),
                "database unavailable",
            ),
            ApiError::ReadOnly => tracing::warn!("database read-only: not ready"),
            ApiError::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            _ => {}
        }
        let (status, error) = (self.status(), self.detail());
        match self {
            ApiError::PaymentSetupFailed {
                order_id,
                checkout_trace_id,
                ..
            } => (
                status,
                Json(CheckoutRefused {
                    ok: false,
                    error,
                    checkout_trace_id,
                    status: "failed".into(),
                    status_url: format!("/api/orders/{order_id}"),
                    order_id,
                }),
            )
                .into_response(),
            _ => (status, Json(ErrorBody { ok: false, error })).into_response(),
        }
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
    let body = Json(ErrorBody {
        ok: false,
        error: ErrorDetail {
            code: code.to_owned(),
            message,
            field: None,
        },
    });
    (parts, body).into_response()
}
