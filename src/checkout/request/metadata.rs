//! The storefront's own metadata, passed on to Stripe: a small flat map of strings, within
//! Stripe's documented metadata limits (at most 50 keys, keys up to 40 characters without `[`
//! or `]`, values up to 500 characters), so that nothing accepted here fails later at Stripe.
//! The key count here is tighter (20 keys, leaving room for the keys this system adds
//! itself); lengths are counted in characters, as Stripe counts them.

use std::collections::BTreeMap;

use super::{
    invalid::{Invalid, invalid},
    limits::{MAX_METADATA_KEY_LEN, MAX_METADATA_KEYS, MAX_METADATA_VALUE_LEN},
};

pub(crate) fn parse_metadata(
    v: Option<&serde_json::Value>,
) -> Result<BTreeMap<String, String>, Invalid> {
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
    obj.iter().map(|(k, v)| parse_entry(k, v)).collect()
}

fn parse_entry(k: &str, v: &serde_json::Value) -> Result<(String, String), Invalid> {
    let field = format!(
        "metadata.{}",
        k.chars().take(MAX_METADATA_KEY_LEN).collect::<String>()
    );
    // Stripe counts characters, and refuses square brackets in a key (they are how its form
    // encoding nests parameters).
    if k.is_empty()
        || k.chars().count() > MAX_METADATA_KEY_LEN
        || k.contains(['[', ']'])
        || reserved_key(k)
    {
        return Err(invalid(
            field,
            format!(
                "keys are 1 to {MAX_METADATA_KEY_LEN} characters, without [ or ], and not reserved"
            ),
        ));
    }
    match v.as_str() {
        Some(s) if s.chars().count() <= MAX_METADATA_VALUE_LEN => Ok((k.to_owned(), s.to_owned())),
        _ => Err(invalid(
            field,
            format!("must be a string of at most {MAX_METADATA_VALUE_LEN} characters"),
        )),
    }
}

/// Keys the system writes into Stripe's metadata itself.
fn reserved_key(k: &str) -> bool {
    matches!(k, "order_id" | "job_id" | "checkout_trace_id")
}
