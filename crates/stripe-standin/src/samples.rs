//! Stripe's own sample objects (`fixtures/fixtures3.json`, Stripe's published fixtures) and
//! the objects built from them: every object the stand-in returns or sends starts as the
//! sample of its resource, with only ids, amounts, statuses and links filled in. Everything
//! else stays as Stripe's sample has it (enum values newer or older than any one client's,
//! fields no client here reads), so that a reader written against the stand-in reads Stripe.
//! Public, so that tests build the events they sign from the same samples.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The API version the stand-in's events say they were rendered in.
pub const API_VERSION: &str = "2026-09-30.endive";

const FIXTURES: &str = include_str!("../fixtures/fixtures3.json");

fn resources() -> &'static Map<String, Value> {
    static RESOURCES: OnceLock<Map<String, Value>> = OnceLock::new();
    RESOURCES.get_or_init(|| {
        let all: Value = serde_json::from_str(FIXTURES).expect("fixtures3.json is JSON");
        all["resources"]
            .as_object()
            .expect("fixtures3.json has resources")
            .clone()
    })
}

/// Stripe's sample object of `resource` (`"charge"`, `"checkout.session"`, ...), verbatim.
pub fn sample(resource: &str) -> Value {
    resources()
        .get(resource)
        .unwrap_or_else(|| panic!("fixtures3.json has no sample {resource}"))
        .clone()
}

/// The sample of `resource` with the top-level fields of `fills` set.
pub fn filled(resource: &str, fills: Value) -> Value {
    let mut object = sample(resource);
    if let (Some(o), Value::Object(fills)) = (object.as_object_mut(), fills) {
        o.extend(fills);
    }
    object
}

/// A charge of `amount` (cents, usd) for `payment_intent`, `amount_refunded` of it refunded.
pub fn charge(
    id: &str,
    payment_intent: &str,
    amount: i64,
    amount_refunded: i64,
    disputed: bool,
    created: i64,
) -> Value {
    filled(
        "charge",
        json!({
            "id": id, "payment_intent": payment_intent, "created": created, "livemode": false,
            "amount": amount, "amount_captured": amount, "amount_refunded": amount_refunded,
            "currency": "usd", "captured": true, "paid": true, "status": "succeeded",
            "refunded": amount_refunded >= amount, "disputed": disputed,
            "refunds": list(Vec::new(), false, &format!("/v1/charges/{id}/refunds")),
        }),
    )
}

/// A PaymentIntent of `amount` (cents, usd), captured `capture_method` (`automatic`,
/// `manual`), in `status`: `requires_capture` holds all of it (`amount_capturable`),
/// `succeeded` received all of it (`amount_received`; set it after a partial capture). The
/// sample's made-up error, next action, processing and transfer (which would say something
/// untrue of this payment) are none; `canceled_at` is set when it is canceled.
pub fn payment_intent(
    id: &str,
    amount: i64,
    capture_method: &str,
    status: &str,
    created: i64,
) -> Value {
    let held = if status == "requires_capture" {
        amount
    } else {
        0
    };
    let received = if status == "succeeded" { amount } else { 0 };
    filled(
        "payment_intent",
        json!({
            "id": id, "amount": amount, "amount_capturable": held, "amount_received": received,
            "capture_method": capture_method, "status": status, "created": created,
            "currency": "usd", "livemode": false, "canceled_at": null,
            "client_secret": format!("{id}_secret_standin"),
            "last_payment_error": null, "next_action": null, "processing": null,
            "transfer_data": null,
        }),
    )
}

/// The sample of `resource` (a refund, a dispute) for `amount` of `charge`, in `status`.
fn on_charge(resource: &str, ids: [&str; 3], amount: i64, status: &str, created: i64) -> Value {
    let [id, charge, payment_intent] = ids;
    filled(
        resource,
        json!({
            "id": id, "charge": charge, "payment_intent": payment_intent, "amount": amount,
            "currency": "usd", "status": status, "created": created,
        }),
    )
}

/// A refund of `amount` of `charge`, in `status` (`pending`, `succeeded`, `failed`, ...).
pub fn refund(
    id: &str,
    charge: &str,
    payment_intent: &str,
    amount: i64,
    status: &str,
    created: i64,
) -> Value {
    on_charge(
        "refund",
        [id, charge, payment_intent],
        amount,
        status,
        created,
    )
}

/// A dispute of `amount` on `charge`, in `status` (`needs_response`, `won`, `lost`, ...).
pub fn dispute(
    id: &str,
    charge: &str,
    payment_intent: &str,
    amount: i64,
    status: &str,
    created: i64,
) -> Value {
    let mut dispute = on_charge(
        "dispute",
        [id, charge, payment_intent],
        amount,
        status,
        created,
    );
    dispute["livemode"] = json!(false);
    dispute
}

/// An event `id` of `event_type` about `object` (as it is now), created at `created`.
pub fn event(id: &str, event_type: &str, object: Value, created: i64) -> Value {
    filled(
        "event",
        json!({
            "id": id, "type": event_type, "created": created, "livemode": false,
            "api_version": API_VERSION, "pending_webhooks": 1,
            "data": {"object": object},
        }),
    )
}

/// One page of a list call, in Stripe's list shape.
pub fn list(data: Vec<Value>, has_more: bool, url: &str) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_objects_keep_every_field_of_stripes_sample_and_fill_only_their_own() {
        for (resource, built) in [
            ("charge", charge("ch_1", "pi_1", 500, 0, false, 1)),
            (
                "refund",
                refund("re_1", "ch_1", "pi_1", 500, "succeeded", 1),
            ),
            ("dispute", dispute("dp_1", "ch_1", "pi_1", 500, "won", 1)),
            ("event", event("evt_1", "charge.refunded", json!({}), 1)),
            (
                "payment_intent",
                payment_intent("pi_1", 500, "manual", "requires_capture", 1),
            ),
        ] {
            let sample = sample(resource);
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&built), keys(&sample), "{resource}");
        }
        // Stripe's sample dispute says what async-stripe 1.0.0-rc.10's typed Dispute refuses.
        let d = dispute("dp_1", "ch_1", "pi_1", 500, "won", 1);
        assert_eq!(d["payment_method_details"]["card"]["case_type"], "inquiry");
        assert_eq!(d["payment_intent"], "pi_1");
    }
}
