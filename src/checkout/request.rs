//! The checkout request of the storefront, parsed at the edge into typed values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recipients::CustomerEmail;

/// Limits of a checkout body (documented in the README).
pub const MAX_CART_LINES: usize = 50;
pub const MAX_QTY: u32 = 100;
pub const MAX_METADATA_KEYS: usize = 20;
pub const MAX_METADATA_KEY_LEN: usize = 40;
pub const MAX_METADATA_VALUE_LEN: usize = 500;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_LEN: usize = 200;

/// The body as the storefront sends it. Every field is optional here so that a missing one
/// is reported by name rather than as a generic JSON error.
#[derive(Debug, Deserialize)]
pub struct RawCheckout {
    #[serde(rename = "__action")]
    pub action: Option<serde_json::Value>,
    pub customer: Option<serde_json::Value>,
    pub cart: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub success_url: Option<serde_json::Value>,
    pub cancel_url: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceId(String);

impl PriceId {
    /// A Stripe price id: `price_` and 1 to 100 ASCII letters, digits or underscores.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("price_")?;
        let ok = !rest.is_empty()
            && rest.len() <= 100
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| PriceId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    /// An integer from 1 to `MAX_QTY`; `2.0` counts as fractional-free JSON integer only if
    /// written as `2`.
    pub fn parse(v: &serde_json::Value) -> Option<Self> {
        let n = v.as_u64()?;
        (1..=u64::from(MAX_QTY))
            .contains(&n)
            .then_some(Quantity(n as u32))
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub price_id: PriceId,
    pub qty: Quantity,
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub email: CustomerEmail,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A checkout that passed every check: only typed values from here on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCheckout {
    pub customer: Customer,
    pub cart: Vec<CartLine>,
    pub metadata: BTreeMap<String, String>,
    pub success_url: ReturnUrl,
    pub cancel_url: ReturnUrl,
}

/// What is wrong with a checkout body, and which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl TryFrom<RawCheckout> for NewCheckout {
    type Error = Invalid;

    fn try_from(raw: RawCheckout) -> Result<Self, Invalid> {
        match raw.action.as_ref().and_then(|v| v.as_str()) {
            Some("create_checkout_session") => {}
            _ => return Err(invalid("__action", "must be \"create_checkout_session\"")),
        }
        Ok(NewCheckout {
            customer: parse_customer(raw.customer.as_ref())?,
            cart: parse_cart(raw.cart.as_ref())?,
            metadata: parse_metadata(raw.metadata.as_ref())?,
            success_url: parse_url(raw.success_url.as_ref(), "success_url")?,
            cancel_url: parse_url(raw.cancel_url.as_ref(), "cancel_url")?,
        })
    }
}

fn optional_text(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    field: &str,
) -> Result<Option<String>, Invalid> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.len() <= MAX_NAME_LEN => {
            let t = s.trim();
            Ok((!t.is_empty()).then(|| t.to_owned()))
        }
        Some(_) => Err(invalid(
            field,
            format!("must be a string of at most {MAX_NAME_LEN} bytes"),
        )),
    }
}

fn parse_customer(v: Option<&serde_json::Value>) -> Result<Customer, Invalid> {
    let obj = v
        .and_then(|v| v.as_object())
        .ok_or_else(|| invalid("customer", "must be an object with an email"))?;
    let email = obj
        .get("email")
        .and_then(|e| e.as_str())
        .and_then(CustomerEmail::parse)
        .ok_or_else(|| invalid("customer.email", "must be a valid email address"))?;
    let name = optional_text(obj, "name", "customer.name")?;
    let phone = optional_text(obj, "phone", "customer.phone")?;
    if let Some(p) = &phone {
        let ok = p.len() <= 32
            && p.chars().filter(|c| c.is_ascii_digit()).count() >= 5
            && p.chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !ok {
            return Err(invalid("customer.phone", "must be a phone number"));
        }
    }
    Ok(Customer { email, name, phone })
}

fn parse_cart(v: Option<&serde_json::Value>) -> Result<Vec<CartLine>, Invalid> {
    let lines = v
        .and_then(|v| v.as_array())
        .ok_or_else(|| invalid("cart", "must be a non-empty array"))?;
    if lines.is_empty() || lines.len() > MAX_CART_LINES {
        return Err(invalid(
            "cart",
            format!("must hold 1 to {MAX_CART_LINES} lines"),
        ));
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let obj = line
                .as_object()
                .ok_or_else(|| invalid(format!("cart[{i}]"), "must be an object"))?;
            let price_id = obj
                .get("price_id")
                .and_then(|p| p.as_str())
                .and_then(PriceId::parse)
                .ok_or_else(|| {
                    invalid(
                        format!("cart[{i}].price_id"),
                        "must be a Stripe price id (price_...)",
                    )
                })?;
            let qty = obj.get("qty").and_then(Quantity::parse).ok_or_else(|| {
                invalid(
                    format!("cart[{i}].qty"),
                    format!("must be an integer from 1 to {MAX_QTY}"),
                )
            })?;
            Ok(CartLine { price_id, qty })
        })
        .collect()
}

fn parse_metadata(v: Option<&serde_json::Value>) -> Result<BTreeMap<String, String>, Invalid> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("metadata", "must be a flat object of strings"))?;
    if obj.len() > MAX_METADATA_KEYS {
        return Err(invalid(
            "metadata",
            format!("must have at most {MAX_METADATA_KEYS} keys"),
        ));
    }
    obj.iter()
        .map(|(k, v)| {
            let field = format!(
                "metadata.{}",
                k.chars().take(MAX_METADATA_KEY_LEN).collect::<String>()
            );
            if k.is_empty() || k.len() > MAX_METADATA_KEY_LEN || reserved_key(k) {
                return Err(invalid(
                    field,
                    format!("keys are 1 to {MAX_METADATA_KEY_LEN} bytes and not reserved"),
                ));
            }
            match v.as_str() {
                Some(s) if s.len() <= MAX_METADATA_VALUE_LEN => Ok((k.clone(), s.to_owned())),
                _ => Err(invalid(
                    field,
                    format!("must be a string of at most {MAX_METADATA_VALUE_LEN} bytes"),
                )),
            }
        })
        .collect()
}

/// Keys the system writes into Stripe's metadata itself.
fn reserved_key(k: &str) -> bool {
    matches!(k, "order_id" | "job_id" | "checkout_trace_id")
}

fn parse_url(v: Option<&serde_json::Value>, field: &str) -> Result<ReturnUrl, Invalid> {
    v.and_then(|v| v.as_str())
        .and_then(ReturnUrl::parse)
        .ok_or_else(|| invalid(field, "must be an absolute http(s) URL"))
}
