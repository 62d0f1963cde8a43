//! Limits of a checkout body (the README's "HTTP API" section states them to the storefront).

pub const MAX_CART_LINES: usize = 50;
pub use crate::orders::cart::MAX_QTY;
pub const MAX_METADATA_KEYS: usize = 20;
pub const MAX_METADATA_KEY_LEN: usize = 40;
pub const MAX_METADATA_VALUE_LEN: usize = 500;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_PHONE_LEN: usize = 64;
