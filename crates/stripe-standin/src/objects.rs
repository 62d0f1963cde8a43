//! The session and event bodies the stand-in answers and sends, built from Stripe's own
//! sample objects ([`crate::samples`]) with the fields the stand-in owns filled in.

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::samples;
pub use crate::samples::API_VERSION;

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
    /// `payment_intent_data[capture_method]` (`manual`: the payment is only authorized).
    pub capture_method: Option<String>,
    /// `payment_intent_data[metadata][...]`: the PaymentIntent's metadata.
    pub intent_metadata: Map<String, Value>,
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

/// A fresh open session: Stripe's sample with its ids, amounts, statuses and links filled in
/// (and the sample's made-up shipping and discount amounts zeroed: none is modelled).
pub(crate) fn session_json(id: &str, new: &NewSession, amount: i64, url: &str, now: i64) -> Value {
    let sample = samples::sample("checkout.session");
    let payment_status = if new.mode == "payment" {
        "unpaid"
    } else {
        "no_payment_required"
    };
    let customer_details = new.customer_email.as_ref().map(|email| {
        let mut details = sample["customer_details"].clone();
        details["email"] = json!(email);
        details
    });
    samples::filled(
        "checkout.session",
        json!({
            "id": id,
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
            "payment_intent": null,
            "shipping_cost": null,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        }),
    )
}

/// An event envelope around `object` (the object as it is now), with a fresh id.
pub(crate) fn event_json(event_type: &str, object: Value, now: i64) -> Value {
    samples::event(&random_id("evt_", 24), event_type, object, now)
}
