//! The request extractors of the API: a JSON body, a query string and a path, each refusing
//! in the API's error shape (never axum's `text/plain`), naming the field at fault.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header::CONTENT_TYPE, request::Parts},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// A JSON body: `application/json` required, size-limited, errors in the API's shape. A
/// whole-number float (`1.0`, `1e2`) is read as the integer it is, as JSON Schema counts it.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the body could not be read".into())
            }
        })?;
        let mut value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        whole_numbers_as_integers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| refused("body", &e))
    }
}

/// A JSON body that may be left out: no body at all (whatever its `Content-Type`), or
/// `null`, is `None`; a body is read as [`JsonBody`] reads it.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|r| {
                if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("the body could not be read".into())
                }
            })?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(None));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        JsonBody::<Option<T>>::from_request(req, state)
            .await
            .map(|JsonBody(value)| OptionalJsonBody(value))
    }
}

/// `1.0` becomes `1`: by JSON Schema both are the integer 1. Only floats that hold a whole
/// number exactly (below 2^53) change.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(x) = n.as_f64()
                && x.fract() == 0.0
                && x.abs() < 9_007_199_254_740_992.0
            {
                *value = Value::from(x as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// A deserialisation error as a 400 naming the field: the path to it (an unknown field's
/// included).
fn refused<E: std::fmt::Display>(whole: &str, e: &serde_path_to_error::Error<E>) -> ApiError {
    let message = e.inner().to_string();
    let path = e.path().to_string();
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned());
    // The path to an unknown field ends with it already, except at the top.
    let field = match (unknown, path.as_str()) {
        (Some(name), "." | "") => name,
        (Some(name), path) if !path.ends_with(name.as_str()) => format!("{path}.{name}"),
        (Some(_), path) => path.to_owned(),
        (None, "." | "") => whole.to_owned(),
        (None, path) => path.to_owned(),
    };
    ApiError::invalid(field, message)
}

/// The query string, read as axum's `Query` reads it, refused in the API's shape with the
/// parameter at fault. Unknown parameters are ignored.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = url::form_urlencoded::parse(query.as_bytes());
        serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(Query)
            .map_err(|e| refused("query", &e))
    }
}

/// The request's `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters.
pub fn idempotency_key(
    headers: &axum::http::HeaderMap,
) -> Result<Option<crate::checkout::IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(crate::checkout::IdempotencyKey::parse)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })
}

/// The path's parameters, refused in the API's shape (a parameter that is not valid
/// percent-encoded UTF-8, say). Each handler then parses its ids: an id of the wrong form
/// names nothing, so it is a 404 as an unknown one is.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|e| ApiError::invalid("path", e.body_text()))
    }
}
