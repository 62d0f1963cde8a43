//! The body as the storefront sends it, and the checkout it parses into.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::orders::CaptureMethod;

use super::{
    cart::{CartLine, parse_cart},
    customer::{Customer, parse_customer},
    invalid::{Invalid, invalid},
    metadata::parse_metadata,
    urls::{ReturnUrl, UrlDefaults, parse_url},
};

/// The body as the storefront sends it. Every field is optional here so that a missing one
/// is reported by name rather than as a generic JSON error. Fields this system does not know
/// are collected in `other`, logged (names only) and ignored: the storefront's requests keep
/// working whatever it adds.
#[derive(Debug, Deserialize)]
pub struct RawCheckout {
    #[serde(rename = "__action")]
    pub action: Option<serde_json::Value>,
    pub customer: Option<serde_json::Value>,
    pub cart: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub success_url: Option<serde_json::Value>,
    pub cancel_url: Option<serde_json::Value>,
    /// `automatic` or `manual` (a hold captured when the job is completed); absent or
    /// `null`: the configured `PAYMENT_CAPTURE`.
    pub capture: Option<serde_json::Value>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A checkout that passed every check: only typed values from here on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCheckout {
    pub customer: Customer,
    pub cart: Vec<CartLine>,
    pub metadata: BTreeMap<String, String>,
    pub success_url: ReturnUrl,
    pub cancel_url: ReturnUrl,
    /// How the payment is taken, when the request chose (else the configured default).
    /// Left out of the request's fingerprint when absent, so a body without it keeps the
    /// fingerprint it always had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureMethod>,
}

impl NewCheckout {
    /// The order this checkout stores (`checkout::accept`), paid as the request
    /// chose, else as `default_capture` (`PAYMENT_CAPTURE`).
    pub fn order(&self, default_capture: CaptureMethod) -> crate::orders::repo::NewOrder<'_> {
        crate::orders::repo::NewOrder {
            email: self.customer.email.as_str(),
            name: self.customer.name.as_deref(),
            phone: self.customer.phone.as_deref(),
            phone_e164: self.customer.phone_e164.as_deref(),
            cart: &self.cart,
            metadata: &self.metadata,
            success_url: self.success_url.as_str(),
            cancel_url: self.cancel_url.as_str(),
            capture: self.capture.unwrap_or(default_capture),
        }
    }

    /// Parses the storefront's body. A missing `success_url`/`cancel_url` takes its configured
    /// default; with neither, the error names the field and the setting.
    pub fn parse(raw: RawCheckout, defaults: &UrlDefaults) -> Result<Self, Invalid> {
        match raw.action.as_ref().and_then(|v| v.as_str()) {
            Some("create_checkout_session") => {}
            _ => return Err(invalid("__action", "must be \"create_checkout_session\"")),
        }
        if !raw.other.is_empty() {
            let names: Vec<&str> = raw.other.keys().map(String::as_str).collect();
            tracing::debug!(fields = ?names, "checkout: unknown fields ignored");
        }
        Ok(NewCheckout {
            customer: parse_customer(raw.customer.as_ref())?,
            cart: parse_cart(raw.cart.as_ref())?,
            metadata: parse_metadata(raw.metadata.as_ref())?,
            success_url: parse_url(
                raw.success_url.as_ref(),
                "success_url",
                defaults.success_url.as_ref(),
                "--checkout-success-url (CHECKOUT_SUCCESS_URL)",
            )?,
            cancel_url: parse_url(
                raw.cancel_url.as_ref(),
                "cancel_url",
                defaults.cancel_url.as_ref(),
                "--checkout-cancel-url (CHECKOUT_CANCEL_URL)",
            )?,
            capture: parse_capture(raw.capture.as_ref())?,
        })
    }
}

/// `"automatic"` or `"manual"`; absent or `null`: not chosen.
fn parse_capture(value: Option<&serde_json::Value>) -> Result<Option<CaptureMethod>, Invalid> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(CaptureMethod::parse)
            .map(Some)
            .ok_or_else(|| invalid("capture", "must be \"automatic\" or \"manual\"")),
    }
}

/// Parsing with no URL defaults configured.
impl TryFrom<RawCheckout> for NewCheckout {
    type Error = Invalid;

    fn try_from(raw: RawCheckout) -> Result<Self, Invalid> {
        NewCheckout::parse(raw, &UrlDefaults::default())
    }
}
