//! Response bodies in Stripe's shapes, built from Stripe's own sample objects
//! (copied from `../shared/fixtures/stripe/`) with the fields the stand-in owns overridden.

use rand::Rng;
use serde_json::{Map, Value, json};

/// The API version async-stripe 1.0.0-rc.10 is generated for; events carry it.
pub const API_VERSION: &str = "2026-09-30.endive";

const SESSION_FIXTURE: &str = include_str!("fixtures/checkout_session.object.json");
const EVENT_FIXTURE: &str = include_str!("fixtures/event.envelope.json");

/// A `POST /v1/checkout/sessions` request, parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct NewSession {
    pub mode: String,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub line_items: Vec<LineItem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineItem {
    pub price: String,
    pub quantity: i64,
}

/// `prefix` + random alphanumerics, like Stripe's ids.
pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// A fresh open session. Fields the stand-in does not model are reset to what Stripe answers
/// for a plain hosted payment session (the sample carries made-up amounts in them).
pub(crate) fn session_json(id: &str, new: &NewSession, amount: i64, url: &str, now: i64) -> Value {
    let mut session: Value =
        serde_json::from_str(SESSION_FIXTURE).expect("session fixture is JSON");
    let obj = session
        .as_object_mut()
        .expect("session fixture is an object");
    let payment_status = if new.mode == "payment" {
        "unpaid"
    } else {
        "no_payment_required"
    };
    let customer_details = new.customer_email.as_ref().map(|email| {
        let mut details = obj["customer_details"].clone();
        details["email"] = json!(email);
        details
    });
    let overrides = json!({
        "id": id,
        "object": "checkout.session",
        "mode": new.mode,
        "status": "open",
        "payment_status": payment_status,
        "url": url,
        "client_reference_id": new.client_reference_id,
        "customer_email": new.customer_email,
        "customer_details": customer_details,
        "metadata": new.metadata,
        "success_url": new.success_url,
        "cancel_url": new.cancel_url,
        "amount_subtotal": amount,
        "amount_total": amount,
        "currency": "usd",
        "created": now,
        "expires_at": now + 24 * 3600,
        "livemode": false,
        // The sample's "hosted" predates the API version async-stripe parses.
        "ui_mode": "hosted_page",
        "payment_intent": null,
        "after_expiration": null,
        "consent_collection": null,
        "collected_information": null,
        "currency_conversion": null,
        "invoice_creation": null,
        "payment_method_configuration_details": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "custom_text": {
            "after_submit": null, "shipping_address": null,
            "submit": null, "terms_of_service_acceptance": null
        },
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    });
    if let Value::Object(overrides) = overrides {
        obj.extend(overrides);
    }
    session
}

/// An event envelope around `object` (the session as it is now).
pub(crate) fn event_json(event_type: &str, object: Value, now: i64) -> Value {
    let mut event: Value = serde_json::from_str(EVENT_FIXTURE).expect("event fixture is JSON");
    let overrides = json!({
        "id": random_id("evt_", 24),
        "object": "event",
        "api_version": API_VERSION,
        "created": now,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": object},
    });
    if let (Some(obj), Value::Object(overrides)) = (event.as_object_mut(), overrides) {
        obj.extend(overrides);
    }
    event
}
