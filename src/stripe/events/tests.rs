//! Reading listed events of any API version.

use serde_json::json;

use super::*;
use crate::stripe::SessionStatus;

#[test]
fn a_listed_event_of_another_api_version_is_read_from_the_fields_used_only() {
    // No api_version, no livemode, a session missing most fields and carrying unknown
    // ones: what an account pinned to an old (or a future) version may list.
    let event = json!({
        "id": "evt_old",
        "type": "checkout.session.completed",
        "created": 1_700_000_000,
        "data": {"object": {
            "id": "cs_old",
            "object": "checkout.session",
            "payment_status": "paid",
            "status": "complete",
            "metadata": {"order_id": "ORD-OLD", "count": 3},
            "customer_details": {"email": "old@example.com"},
            "display_items": [{"legacy": true}],
            "a_field_from_the_future": {"x": 1}
        }}
    });
    let parsed = StripeEvent::from_json(&event).expect("parsed");
    assert_eq!(
        (parsed.id.as_str(), parsed.created),
        ("evt_old", 1_700_000_000)
    );
    let (payment, facts) = parsed.payment.expect("a payment event");
    assert_eq!(payment, PaymentEvent::CompletedPaid);
    assert_eq!(facts.session_id, "cs_old");
    assert_eq!(
        facts.metadata.get("order_id").map(String::as_str),
        Some("ORD-OLD")
    );
    assert_eq!(facts.customer_email.as_deref(), Some("old@example.com"));
    assert_eq!(facts.amount_total, None);
}

#[test]
fn other_types_are_kept_without_a_payment_and_an_event_without_an_id_is_refused() {
    let other = json!({"id": "evt_1", "type": "customer.created", "data": {"object": {}}});
    let parsed = StripeEvent::from_json(&other).expect("parsed");
    assert!(parsed.payment.is_none() && parsed.money.is_none() && parsed.unusable.is_none());
    // A type acted on whose object lacks what is needed: read, and marked unusable.
    let empty = json!({"id": "evt_2", "type": "charge.refunded", "data": {"object": {}}});
    let parsed = StripeEvent::from_json(&empty).expect("parsed");
    assert_eq!(parsed.unusable, Some(Missing("amount_refunded")));
    let no_data = json!({"id": "evt_3", "type": "checkout.session.expired"});
    let parsed = StripeEvent::from_json(&no_data).expect("parsed");
    assert_eq!(parsed.unusable, Some(Missing("id")));
    assert!(StripeEvent::from_json(&json!({"type": "checkout.session.expired"})).is_none());
}

#[test]
fn enum_values_this_build_does_not_know_are_kept_as_they_came_and_counted() {
    let event = json!({
        "id": "evt_new", "type": "checkout.session.completed", "created": 1,
        "data": {"object": {"id": "cs_new", "status": "a_status_from_the_future",
                            "payment_status": "paid_in_a_new_way", "ui_mode": "hosted"}}
    });
    let parsed = StripeEvent::from_json(&event).expect("parsed");
    let (payment, facts) = parsed.payment.expect("a payment event");
    // Not a payment this build can vouch for: the order waits, as for a delayed payment.
    assert_eq!(payment, PaymentEvent::CompletedUnpaid);
    assert_eq!(
        facts.status,
        Some(SessionStatus::Other("a_status_from_the_future".into()))
    );
    let text = crate::metrics::metrics().render();
    assert!(
        text.contains("h2s_stripe_unknown_values_total{field=\"checkout.session.payment_status\"}"),
        "{text}"
    );
}

/// The reader's list of types acted on is the one the sweep asks Stripe for: every entry is
/// read for what it does (here: found lacking the fields it needs), and a type off the list
/// is recorded and ignored, however close its name.
#[test]
fn every_listed_type_and_no_other_is_acted_on() {
    let read = |event_type: &str| {
        StripeEvent::from_json(&json!({
            "id": "evt_1", "type": event_type, "data": {"object": {}}
        }))
        .expect("an id and a type")
    };
    for event_type in ACTED_ON {
        let event = read(event_type);
        assert!(
            event.payment.is_some() || event.money.is_some() || event.unusable.is_some(),
            "{event_type} is listed but not acted on"
        );
    }
    for event_type in [
        "checkout.session.created",
        "charge.succeeded",
        "charge.dispute.updated",
        "refund.succeeded",
        "payment_intent.created",
        "payment_intent.requires_action",
    ] {
        let event = read(event_type);
        assert!(
            event.payment.is_none() && event.money.is_none() && event.unusable.is_none(),
            "{event_type} is acted on but not listed"
        );
    }
}

#[test]
fn an_older_versions_charge_refunded_for_a_released_hold_moves_no_money() {
    let event = |version: &str| {
        json!({"id": "evt_rel", "type": "charge.refunded", "api_version": version,
               "data": {"object": {"id": "ch_rel", "amount": 8_000, "captured": false,
                                   "amount_captured": null, "amount_refunded": 8_000,
                                   "refunded": true, "payment_intent": "pi_rel"}}})
    };
    let old = StripeEvent::from_json(&event("2024-06-20")).expect("parsed");
    assert!(old.money.is_none() && old.unusable.is_none(), "{old:?}");
    // The same object in a version where it could only be a refund: read as one.
    let new = StripeEvent::from_json(&event("2026-09-30.endive")).expect("parsed");
    assert!(new.money.is_some(), "{new:?}");
}
