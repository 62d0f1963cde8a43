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
pub const MAX_PHONE_LEN: usize = 64;

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
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
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

/// Return URLs for a checkout that carries none (`CHECKOUT_SUCCESS_URL`,
/// `CHECKOUT_CANCEL_URL`). Stripe's `{CHECKOUT_SESSION_ID}` placeholder passes through as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlDefaults {
    pub success_url: Option<ReturnUrl>,
    pub cancel_url: Option<ReturnUrl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub email: CustomerEmail,
    /// As the customer typed it: trimmed, capped at `MAX_NAME_LEN` bytes.
    pub name: Option<String>,
    /// As the customer typed it: trimmed, capped at `MAX_PHONE_LEN` bytes.
    pub phone: Option<String>,
    /// The phone normalised to E.164, when it reads as an international number. Derived, so
    /// left out of the request's fingerprint (an `Idempotency-Key` keeps matching its body).
    #[serde(skip)]
    pub phone_e164: Option<String>,
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

impl NewCheckout {
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
        })
    }
}

/// Parsing with no URL defaults configured.
impl TryFrom<RawCheckout> for NewCheckout {
    type Error = Invalid;

    fn try_from(raw: RawCheckout) -> Result<Self, Invalid> {
        NewCheckout::parse(raw, &UrlDefaults::default())
    }
}

/// Free text a customer typed (a name, a phone): a string, or a number written as JSON,
/// trimmed, control characters turned into spaces, capped at `max` bytes. Never an error:
/// anything else counts as not given.
fn free_text(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    max: usize,
) -> Option<String> {
    let text = match obj.get(key)? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Null => return None,
        _ => {
            tracing::debug!(field = key, "checkout: customer field is not text; ignored");
            return None;
        }
    };
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut t = cleaned.trim();
    if t.len() > max {
        let mut end = max;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t = t[..end].trim_end();
    }
    (!t.is_empty()).then(|| t.to_owned())
}

/// A phone number in E.164 (`+` and 7 to 15 digits, the first not 0), when `phone` reads as
/// an international number: `+` or `00`, then digits with the usual separators. National
/// numbers are left alone (their country is not known here).
pub fn e164(phone: &str) -> Option<String> {
    let s = phone.trim();
    let rest = s.strip_prefix('+').or_else(|| s.strip_prefix("00"))?;
    let mut digits = String::with_capacity(15);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    ((7..=15).contains(&digits.len()) && !digits.starts_with('0')).then(|| format!("+{digits}"))
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
    let name = free_text(obj, "name", MAX_NAME_LEN);
    let phone = free_text(obj, "phone", MAX_PHONE_LEN);
    let phone_e164 = phone.as_deref().and_then(e164);
    Ok(Customer {
        email,
        name,
        phone,
        phone_e164,
    })
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

/// A return URL from the request, or the configured default when the request has none
/// (absent, `null` or blank).
fn parse_url(
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MAX_NAME_LEN, NewCheckout, RawCheckout, ReturnUrl, UrlDefaults, e164};

    fn parse(body: serde_json::Value, defaults: &UrlDefaults) -> Result<NewCheckout, String> {
        let raw: RawCheckout = serde_json::from_value(body).unwrap();
        NewCheckout::parse(raw, defaults).map_err(|e| format!("{}: {}", e.field, e.message))
    }

    fn defaults() -> UrlDefaults {
        UrlDefaults {
            success_url: ReturnUrl::parse("https://shop.example/thanks?s={CHECKOUT_SESSION_ID}"),
            cancel_url: ReturnUrl::parse("https://shop.example/cart"),
        }
    }

    /// The old storefront's shape: a short phone, no metadata, no URLs, a field of its own.
    fn old_request() -> serde_json::Value {
        json!({
            "__action": "create_checkout_session",
            "customer": {"email": "a@b.com", "name": "  Ann  ", "phone": "123"},
            "cart": [{"price_id": "price_123", "qty": 1}],
            "source": "storefront-v1"
        })
    }

    #[test]
    fn phones_are_normalised_to_e164_only_when_they_read_as_international_numbers() {
        assert_eq!(e164("+1 (555) 123-4567").as_deref(), Some("+15551234567"));
        assert_eq!(e164("0044 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(e164("123"), None);
        assert_eq!(e164("+123"), None);
        assert_eq!(e164("(555) 123-4567"), None);
        assert_eq!(e164("+1 555 CALL-NOW"), None);
        assert_eq!(e164("+0 555 123 4567"), None);
    }

    #[test]
    fn names_and_phones_are_free_text_never_a_reason_to_refuse() {
        let c = parse(old_request(), &defaults()).unwrap();
        assert_eq!(c.customer.phone.as_deref(), Some("123"));
        assert_eq!(c.customer.phone_e164, None);
        assert_eq!(c.customer.name.as_deref(), Some("Ann"));

        let mut body = old_request();
        body["customer"]["phone"] = json!(15551234567u64);
        body["customer"]["name"] = json!("é".repeat(300));
        let c = parse(body, &defaults()).unwrap();
        assert_eq!(c.customer.phone.as_deref(), Some("15551234567"));
        let name = c.customer.name.unwrap();
        assert!(name.len() <= MAX_NAME_LEN && name.len() >= MAX_NAME_LEN - 1);

        let mut body = old_request();
        body["customer"]["phone"] = json!({"weird": true});
        body["customer"]["name"] = json!("Ann\u{0}Lee\n");
        let c = parse(body, &defaults()).unwrap();
        assert_eq!(c.customer.phone, None);
        assert_eq!(c.customer.name.as_deref(), Some("Ann Lee"));

        let mut body = old_request();
        body["customer"]["phone"] = json!("  +44 20 7946 0958 ");
        let c = parse(body, &defaults()).unwrap();
        assert_eq!(c.customer.phone.as_deref(), Some("+44 20 7946 0958"));
        assert_eq!(c.customer.phone_e164.as_deref(), Some("+442079460958"));
    }

    #[test]
    fn missing_urls_take_the_defaults_or_name_the_field_and_the_setting() {
        let c = parse(old_request(), &defaults()).unwrap();
        assert_eq!(
            c.success_url.as_str(),
            "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}"
        );
        assert_eq!(c.cancel_url.as_str(), "https://shop.example/cart");
        assert!(c.metadata.is_empty());

        let e = parse(old_request(), &UrlDefaults::default()).unwrap_err();
        assert!(e.starts_with("success_url: "), "{e}");
        assert!(e.contains("CHECKOUT_SUCCESS_URL"), "{e}");
        let only_success = UrlDefaults {
            cancel_url: None,
            ..defaults()
        };
        let e = parse(old_request(), &only_success).unwrap_err();
        assert!(
            e.starts_with("cancel_url: ") && e.contains("CHECKOUT_CANCEL_URL"),
            "{e}"
        );

        // A URL that is given is still checked, defaults or not.
        let mut body = old_request();
        body["success_url"] = json!("javascript:alert(1)");
        let e = parse(body, &defaults()).unwrap_err();
        assert!(e.starts_with("success_url: must be"), "{e}");
    }
}
