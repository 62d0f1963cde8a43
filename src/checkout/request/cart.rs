//! The cart: Stripe price ids and quantities, line by line.

use serde::{Deserialize, Serialize};

use super::{
    invalid::{Invalid, invalid},
    limits::{MAX_CART_LINES, MAX_QTY},
};

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

pub(crate) fn parse_cart(v: Option<&serde_json::Value>) -> Result<Vec<CartLine>, Invalid> {
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
        .map(|(i, line)| parse_line(i, line))
        .collect()
}

fn parse_line(i: usize, line: &serde_json::Value) -> Result<CartLine, Invalid> {
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
}
