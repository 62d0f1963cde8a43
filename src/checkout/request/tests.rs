use serde_json::json;

use super::{MAX_NAME_LEN, NewCheckout, RawCheckout, ReturnUrl, UrlDefaults, e164};

fn parse(body: serde_json::Value, defaults: &UrlDefaults) -> Result<NewCheckout, String> {
    let raw: RawCheckout = serde_json::from_value(body).unwrap();
    NewCheckout::parse(raw, defaults).map_err(|e| format!("{}: {}", e.field, e.message))
}

fn defaults() -> UrlDefaults {
    UrlDefaults {
        success_url: ReturnUrl::parse("https://shop.example/thanks?s={CHECKOUT_SESSION_ID}"),
        cancel_url: ReturnUrl::parse("https://shop.example/cart"),
    }
}

/// The old storefront's shape: a short phone, no metadata, no URLs, a field of its own.
fn old_request() -> serde_json::Value {
    json!({
        "__action": "create_checkout_session",
        "customer": {"email": "a@b.com", "name": "  Ann  ", "phone": "123"},
        "cart": [{"price_id": "price_123", "qty": 1}],
        "source": "storefront-v1"
    })
}

#[test]
fn phones_are_normalised_to_e164_only_when_they_read_as_international_numbers() {
    assert_eq!(e164("+1 (555) 123-4567").as_deref(), Some("+15551234567"));
    assert_eq!(e164("0044 20 7946 0958").as_deref(), Some("+442079460958"));
    assert_eq!(e164("123"), None);
    assert_eq!(e164("+123"), None);
    assert_eq!(e164("(555) 123-4567"), None);
    assert_eq!(e164("+1 555 CALL-NOW"), None);
    assert_eq!(e164("+0 555 123 4567"), None);
}

#[test]
fn names_and_phones_are_free_text_never_a_reason_to_refuse() {
    let c = parse(old_request(), &defaults()).unwrap();
    assert_eq!(c.customer.phone.as_deref(), Some("123"));
    assert_eq!(c.customer.phone_e164, None);
    assert_eq!(c.customer.name.as_deref(), Some("Ann"));

    let mut body = old_request();
    body["customer"]["phone"] = json!(15551234567u64);
    body["customer"]["name"] = json!("é".repeat(300));
    let c = parse(body, &defaults()).unwrap();
    assert_eq!(c.customer.phone.as_deref(), Some("15551234567"));
    let name = c.customer.name.unwrap();
    assert!(name.len() <= MAX_NAME_LEN && name.len() >= MAX_NAME_LEN - 1);

    let mut body = old_request();
    body["customer"]["phone"] = json!({"weird": true});
    body["customer"]["name"] = json!("Ann\u{0}Lee\n");
    let c = parse(body, &defaults()).unwrap();
    assert_eq!(c.customer.phone, None);
    assert_eq!(c.customer.name.as_deref(), Some("Ann Lee"));

    let mut body = old_request();
    body["customer"]["phone"] = json!("  +44 20 7946 0958 ");
    let c = parse(body, &defaults()).unwrap();
    assert_eq!(c.customer.phone.as_deref(), Some("+44 20 7946 0958"));
    assert_eq!(c.customer.phone_e164.as_deref(), Some("+442079460958"));
}

#[test]
fn missing_urls_take_the_defaults_or_name_the_field_and_the_setting() {
    let c = parse(old_request(), &defaults()).unwrap();
    assert_eq!(
        c.success_url.as_str(),
        "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(c.cancel_url.as_str(), "https://shop.example/cart");
    assert!(c.metadata.is_empty());

    let e = parse(old_request(), &UrlDefaults::default()).unwrap_err();
    assert!(e.starts_with("success_url: "), "{e}");
    assert!(e.contains("CHECKOUT_SUCCESS_URL"), "{e}");
    let only_success = UrlDefaults {
        cancel_url: None,
        ..defaults()
    };
    let e = parse(old_request(), &only_success).unwrap_err();
    assert!(
        e.starts_with("cancel_url: ") && e.contains("CHECKOUT_CANCEL_URL"),
        "{e}"
    );

    // A URL that is given is still checked, defaults or not.
    let mut body = old_request();
    body["success_url"] = json!("javascript:alert(1)");
    let e = parse(body, &defaults()).unwrap_err();
    assert!(e.starts_with("success_url: must be"), "{e}");
}
