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
pub(super) struct NewSession {
    pub mode: String,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub line_items: Vec<LineItem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LineItem {
    pub price: String,
    pub quantity: i64,
}

/// `prefix` + random alphanumerics, like Stripe's ids.
pub(super) fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// A fresh open session. Fields the stand-in does not model are reset to what Stripe answers
/// for a plain hosted payment session (the sample carries made-up amounts in them).
pub(super) fn session_json(id: &str, new: &NewSession, amount: i64, url: &str, now: i64) -> Value {
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
pub(super) fn event_json(event_type: &str, object: Value, now: i64) -> Value {
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

/// A Stripe error answer: HTTP status plus the `{"error": {...}}` body.
#[derive(Clone, Debug)]
pub(super) struct StripeError {
    pub status: u16,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl StripeError {
    pub fn invalid(code: &'static str, message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            status: 400,
            kind: "invalid_request_error",
            code: Some(code),
            message: message.into(),
            param,
        }
    }

    pub fn resource_missing(what: &str, id: &str, param: &str) -> Self {
        let mut err = Self::invalid(
            "resource_missing",
            format!("No such {what}: '{id}'"),
            Some(param.into()),
        );
        if what != "price" {
            err.status = 404;
        }
        err
    }

    pub fn parameter_missing(param: &str) -> Self {
        Self::invalid(
            "parameter_missing",
            format!("Missing required param: {param}."),
            Some(param.into()),
        )
    }

    pub fn unauthorized() -> Self {
        Self {
            status: 401,
            kind: "invalid_request_error",
            code: None,
            message: "You did not provide an API key. You need to provide your API key in the \
                      Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
            param: None,
        }
    }

    pub fn idempotency(key: &str) -> Self {
        Self {
            status: 400,
            kind: "idempotency_error",
            code: None,
            message: format!(
                "Keys for idempotent requests can only be used with the same parameters they were first \
                 used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
            param: None,
        }
    }

    /// The answer to an injected fault of this status.
    pub fn fault(status: u16) -> Self {
        match status {
            429 => Self {
                status,
                kind: "invalid_request_error",
                code: Some("rate_limit"),
                message: "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.".into(),
                param: None,
            },
            401 => Self {
                status,
                kind: "invalid_request_error",
                code: None,
                message: "Invalid API Key provided: sk_test_********************xxxx".into(),
                param: None,
            },
            400..=499 => Self {
                status,
                kind: "invalid_request_error",
                code: None,
                message: format!("Injected fault: {status}."),
                param: None,
            },
            _ => Self {
                status,
                kind: "api_error",
                code: None,
                message: "Sorry, something went wrong. We've already been notified of the problem.".into(),
                param: None,
            },
        }
    }

    pub fn body(&self) -> String {
        let mut error = json!({"type": self.kind, "message": self.message});
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error }).to_string()
    }
}
