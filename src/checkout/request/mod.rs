//! The checkout request of the storefront, parsed at the edge into typed values. Its contract
//! (limits, the lenient old fields, the URL defaults) is the README's "HTTP API" section;
//! each file here holds one part of it.

mod body;
mod cart;
mod customer;
mod idempotency;
mod invalid;
pub mod limits;
mod metadata;
mod urls;

pub use body::{NewCheckout, RawCheckout};
pub use cart::{CartLine, PriceId, Quantity};
pub use customer::{Customer, e164};
pub use idempotency::{IdempotencyKey, keyed_hash, request_hash};
pub use invalid::Invalid;
pub use limits::{
    MAX_CART_LINES, MAX_METADATA_KEY_LEN, MAX_METADATA_KEYS, MAX_METADATA_VALUE_LEN, MAX_NAME_LEN,
    MAX_PHONE_LEN, MAX_QTY, MAX_URL_LEN,
};
pub use urls::{ReturnUrl, UrlDefaults};

#[cfg(test)]
mod tests;
