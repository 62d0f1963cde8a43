use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// `ORD-` and 16 characters from the OS's random source: unguessable, so an order id can be
/// shown to the storefront and used in status URLs without leaking other orders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct OrderId(String);

const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl OrderId {
    pub fn generate() -> Self {
        // ThreadRng is a CSPRNG seeded from the OS.
        let mut rng = rand::rng();
        let suffix: String = (0..16)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        OrderId(format!("ORD-{suffix}"))
    }

    /// An order id as found in a URL path or Stripe metadata. Legacy rows may carry other
    /// shapes, so this only bounds length and characters.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| OrderId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_documented_shape_and_differ() {
        let a = OrderId::generate();
        let b = OrderId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().starts_with("ORD-"));
        assert!(OrderId::parse(a.as_str()).is_some());
        assert!(OrderId::parse("ORD-1/../x").is_none());
    }
}
