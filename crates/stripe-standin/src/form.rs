//! The form body async-stripe sends (`serde_qs` bracket notation:
//! `line_items[0][price]=price_1&metadata[order_id]=ORD-1`), parsed into a [`NewSession`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::StripeError;
use crate::objects::{LineItem, NewSession};

/// `line_items[i][price]` and `line_items[i][quantity]` by index, as received.
type RawItems = BTreeMap<usize, (Option<String>, Option<String>)>;

/// Decoded `(key, value)` pairs, sorted. Idempotency compares these rather than the raw body:
/// Stripe compares parameters, and a client that rebuilds its request on retry may serialise a
/// `HashMap` (metadata) in another order, which must still count as the same request.
pub(crate) fn pairs(raw: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
}

pub(crate) fn parse_create(pairs: &[(String, String)]) -> Result<NewSession, StripeError> {
    let mut new = NewSession::default();
    let mut items = RawItems::new();
    let mut mode = None;
    for (key, value) in pairs {
        match key.as_str() {
            "mode" => mode = Some(value.clone()),
            "success_url" => new.success_url = Some(value.clone()),
            "cancel_url" => new.cancel_url = Some(value.clone()),
            "customer_email" => new.customer_email = Some(value.clone()),
            "client_reference_id" => new.client_reference_id = Some(value.clone()),
            _ => nested_param(&mut new, &mut items, key, value)?,
        }
    }
    new.mode = parse_mode(mode.as_deref())?;
    check_email(new.customer_email.as_deref())?;
    new.line_items = line_items(items)?;
    if new.mode == "payment" && new.line_items.is_empty() {
        return Err(StripeError::parameter_missing("line_items"));
    }
    Ok(new)
}

/// `metadata[...]`, `line_items[i][...]`, and the PaymentIntent's capture method and metadata
/// (`payment_intent_data[...]`); other keys are ignored.
fn nested_param(
    new: &mut NewSession,
    items: &mut RawItems,
    key: &str,
    value: &str,
) -> Result<(), StripeError> {
    if let Some(name) = bracketed(key, "metadata") {
        new.metadata
            .insert(name.to_owned(), Value::String(value.to_owned()));
    } else if key == "payment_intent_data[capture_method]" {
        new.capture_method = Some(value.to_owned());
    } else if let Some(name) = bracketed(key, "payment_intent_data[metadata]") {
        new.intent_metadata
            .insert(name.to_owned(), Value::String(value.to_owned()));
    } else if let Some(rest) = key.strip_prefix("line_items[") {
        let (index, field) = line_item_key(rest).ok_or_else(|| {
            StripeError::invalid(
                "parameter_unknown",
                format!("Received unknown parameter: {key}"),
                Some(key.to_owned()),
            )
        })?;
        let entry = items.entry(index).or_default();
        match field {
            "price" => entry.0 = Some(value.to_owned()),
            "quantity" => entry.1 = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok(())
}

fn parse_mode(mode: Option<&str>) -> Result<String, StripeError> {
    match mode {
        None => Err(StripeError::parameter_missing("mode")),
        Some(m @ ("payment" | "setup" | "subscription")) => Ok(m.to_owned()),
        Some(other) => Err(StripeError::invalid(
            "parameter_invalid_string",
            format!("Invalid mode: must be one of payment, setup, or subscription (got '{other}')"),
            Some("mode".into()),
        )),
    }
}

fn check_email(email: Option<&str>) -> Result<(), StripeError> {
    match email {
        Some(email) if !email.contains('@') => Err(StripeError::invalid(
            "email_invalid",
            format!("Invalid email address: {email}"),
            Some("customer_email".into()),
        )),
        _ => Ok(()),
    }
}

/// The line items in index order; indices must run 0, 1, 2... without a gap.
fn line_items(items: RawItems) -> Result<Vec<LineItem>, StripeError> {
    let mut line_items = Vec::with_capacity(items.len());
    for (position, (index, (price, quantity))) in items.into_iter().enumerate() {
        let param = |field: &str| format!("line_items[{index}][{field}]");
        if position != index {
            return Err(StripeError::invalid(
                "parameter_invalid_integer",
                "Invalid array",
                Some("line_items".into()),
            ));
        }
        let price = price.ok_or_else(|| StripeError::parameter_missing(&param("price")))?;
        let quantity =
            quantity.ok_or_else(|| StripeError::parameter_missing(&param("quantity")))?;
        let quantity = quantity
            .parse::<i64>()
            .ok()
            .filter(|q| *q >= 1)
            .ok_or_else(|| {
                StripeError::invalid(
                    "parameter_invalid_integer",
                    "Invalid integer: quantity",
                    Some(param("quantity")),
                )
            })?;
        line_items.push(LineItem { price, quantity });
    }
    Ok(line_items)
}

/// `metadata[order_id]` → `order_id`.
fn bracketed<'k>(key: &'k str, name: &str) -> Option<&'k str> {
    key.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')
}

/// `0][price]` (after `line_items[`) → `(0, "price")`.
fn line_item_key(rest: &str) -> Option<(usize, &str)> {
    let (index, field) = rest.split_once("][")?;
    Some((index.parse().ok()?, field.strip_suffix(']')?))
}
