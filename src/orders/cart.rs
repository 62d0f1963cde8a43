//! An order's cart: Stripe price ids and quantities, line by line, as the checkout parsed
//! them (`checkout::request`) and as the order keeps them (`cart_json`).

use serde::{Deserialize, Serialize};

/// The most of one price a cart line may hold (the README's "HTTP API" states it).
pub const MAX_QTY: u32 = 100;

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
