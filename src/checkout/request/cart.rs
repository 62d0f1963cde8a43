//! The cart: Stripe price ids and quantities, line by line.

use super::{
    invalid::{Invalid, invalid},
    limits::{MAX_CART_LINES, MAX_QTY},
};
pub use crate::orders::cart::{CartLine, PriceId, Quantity};

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
