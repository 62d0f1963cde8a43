//! The return URLs Stripe sends the customer back to, and their configured defaults.

use serde::{Deserialize, Serialize};

use super::{
    invalid::{Invalid, invalid},
    limits::MAX_URL_LEN,
};

/// An absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReturnUrl(String);

impl ReturnUrl {
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() > MAX_URL_LEN {
            return None;
        }
        let url = url::Url::parse(s).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .then(|| ReturnUrl(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Return URLs for a checkout that carries none (`CHECKOUT_SUCCESS_URL`,
/// `CHECKOUT_CANCEL_URL`). Stripe's `{CHECKOUT_SESSION_ID}` placeholder passes through as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlDefaults {
    pub success_url: Option<ReturnUrl>,
    pub cancel_url: Option<ReturnUrl>,
}

/// A return URL from the request, or the configured default when the request has none
/// (absent, `null` or blank).
pub(crate) fn parse_url(
    v: Option<&serde_json::Value>,
    field: &str,
    default: Option<&ReturnUrl>,
    setting: &str,
) -> Result<ReturnUrl, Invalid> {
    let given = match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(v),
    };
    match given {
        Some(v) => v
            .as_str()
            .and_then(ReturnUrl::parse)
            .ok_or_else(|| invalid(field, "must be an absolute http(s) URL")),
        None => default.cloned().ok_or_else(|| {
            invalid(
                field,
                format!("is required: send it, or configure a default with {setting}"),
            )
        }),
    }
}
