//! The customer: an email that must parse, and a name and phone that are free text (the old
//! storefront sends whatever was typed, so they are never a reason to refuse).

use serde::{Deserialize, Serialize};

use super::{
    invalid::{Invalid, invalid},
    limits::{MAX_NAME_LEN, MAX_PHONE_LEN},
};
use crate::recipients::CustomerEmail;

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

pub(crate) fn parse_customer(v: Option<&serde_json::Value>) -> Result<Customer, Invalid> {
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
