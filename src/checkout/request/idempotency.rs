//! Replaying a checkout: the client's `Idempotency-Key`, and the fingerprint of the body it
//! was first used with.

use sha2::{Digest, Sha256};

use super::body::NewCheckout;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| IdempotencyKey(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stable fingerprint of the parsed request (field order and whitespace do not matter).
pub fn request_hash(checkout: &NewCheckout) -> String {
    let canonical = serde_json::to_vec(checkout).expect("a checkout serialises");
    hex::encode(Sha256::digest(&canonical))
}

/// The hash a keyed request is stored and compared with; empty for a request without a key
/// (never compared, so never computed).
pub fn keyed_hash(checkout: &NewCheckout, key: Option<&IdempotencyKey>) -> String {
    key.map(|_| request_hash(checkout)).unwrap_or_default()
}
