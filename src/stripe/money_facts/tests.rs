use serde_json::json;

use super::*;

#[test]
fn a_full_refund_is_read_from_the_charge_and_a_partial_one_is_not_full() {
    let charge = |refunded: i64, flag: bool| {
        json!({"id": "ch_1", "object": "charge", "amount": 10_000, "amount_refunded": refunded,
               "refunded": flag, "payment_intent": "pi_1"})
    };
    let full = MoneyFacts::read("charge.refunded", &charge(10_000, true))
        .unwrap()
        .unwrap();
    assert_eq!(full.payment_intent, "pi_1");
    assert!(matches!(
        full.change,
        MoneyChange::ChargeRefunded { full: true, .. }
    ));
    let partial = MoneyFacts::read("charge.refunded", &charge(2_500, false))
        .unwrap()
        .unwrap();
    assert_eq!(
        partial.change,
        MoneyChange::ChargeRefunded {
            charge_id: "ch_1".into(),
            amount_refunded: 2_500,
            full: false
        }
    );
}

#[test]
fn disputes_and_refunds_name_their_payment_intent_expanded_or_not() {
    let closed = json!({"id": "dp_1", "status": "lost", "payment_intent": {"id": "pi_2"}});
    let facts = MoneyFacts::read("charge.dispute.closed", &closed)
        .unwrap()
        .unwrap();
    assert_eq!(facts.payment_intent, "pi_2");
    assert_eq!(
        facts.change,
        MoneyChange::DisputeClosed {
            dispute_id: "dp_1".into(),
            won: false
        }
    );
    let inquiry = json!({"id": "dp_2", "status": "warning_closed", "payment_intent": "pi_2"});
    let facts = MoneyFacts::read("charge.dispute.closed", &inquiry)
        .unwrap()
        .unwrap();
    assert!(matches!(
        facts.change,
        MoneyChange::DisputeClosed { won: true, .. }
    ));
    let refund =
        json!({"id": "re_1", "amount": 500, "status": "pending", "payment_intent": "pi_3"});
    let facts = MoneyFacts::read("refund.updated", &refund)
        .unwrap()
        .unwrap();
    assert!(matches!(
        facts.change,
        MoneyChange::RefundUpdated {
            succeeded: false,
            ..
        }
    ));
    // No PaymentIntent (a charge made outside Checkout): unusable, and says why.
    assert_eq!(
        MoneyFacts::read("charge.dispute.created", &json!({"id": "dp_3"})),
        Err(Missing("payment_intent"))
    );
    // A closed status this build does not know is never guessed as won or lost.
    let unknown = json!({"id": "dp_4", "status": "arbitrated", "payment_intent": "pi_2"});
    assert_eq!(
        MoneyFacts::read("charge.dispute.closed", &unknown),
        Err(Missing("status"))
    );
    assert_eq!(MoneyFacts::read("charge.succeeded", &refund), Ok(None));
}

#[test]
fn a_hold_is_read_from_its_payment_intent_status_never_from_the_event_type_alone() {
    let pi = |status: &str, reason: Value| {
        json!({"id": "pi_9", "object": "payment_intent", "status": status,
               "amount_capturable": 10_000, "amount_received": 0,
               "cancellation_reason": reason,
               "latest_charge": {"id": "ch_9", "payment_method_details": {"card": {"capture_before": 1_700_000_000}}}})
    };
    let hold = |t: &str, o: &Value| MoneyFacts::read(t, o).unwrap().map(|f| f.change);
    assert_eq!(
        hold(
            "payment_intent.amount_capturable_updated",
            &pi("requires_capture", Value::Null)
        ),
        Some(MoneyChange::Hold(HoldChange::Authorized {
            amount_capturable: Some(10_000),
            capture_before: Some(1_700_000_000)
        }))
    );
    // A delayed payment method: processing tells no hold.
    assert_eq!(
        hold(
            "payment_intent.amount_capturable_updated",
            &pi("processing", Value::Null)
        ),
        None
    );
    for reason in ["expired", "automatic"] {
        assert_eq!(
            hold("payment_intent.canceled", &pi("canceled", json!(reason))),
            Some(MoneyChange::Hold(HoldChange::Lapsed)),
            "{reason}"
        );
    }
    assert_eq!(
        hold(
            "payment_intent.canceled",
            &pi("canceled", json!("requested_by_customer"))
        ),
        Some(MoneyChange::Hold(HoldChange::Released))
    );
    let charge = json!({"id": "ch_9", "amount_captured": 6_000, "payment_intent": "pi_9"});
    assert_eq!(
        hold("charge.captured", &charge),
        Some(MoneyChange::Hold(HoldChange::Captured {
            amount: Some(6_000)
        }))
    );
    assert_eq!(
        hold("charge.expired", &charge),
        Some(MoneyChange::Hold(HoldChange::Lapsed))
    );
}

/// Before 2025-03-31 a hold's release was booked on the charge as refunded money: a cancel
/// refunded all of an uncaptured charge, a partial capture the rest. Such a `charge.refunded`
/// gives no money back; a later refund counts only what it gave back.
#[test]
fn an_older_versions_release_booked_as_a_refund_is_not_a_refund() {
    const ACACIA: Option<&str> = Some("2025-02-24.acacia");
    const BASIL: Option<&str> = Some("2025-03-31.basil");
    let charge = |captured: bool, amount_captured: Option<i64>, refunded: i64| {
        json!({"id": "ch_h", "object": "charge", "amount": 10_000, "captured": captured,
               "amount_captured": amount_captured, "amount_refunded": refunded,
               "refunded": refunded == 10_000, "payment_intent": "pi_h"})
    };
    let read = |o: &Value, version| {
        MoneyFacts::read_in("charge.refunded", o, version)
            .unwrap()
            .map(|f| f.change)
    };
    let refunded = |amount_refunded, full| {
        Some(MoneyChange::ChargeRefunded {
            charge_id: "ch_h".into(),
            amount_refunded,
            full,
        })
    };

    // A cancel of the hold (older versions: `amount_captured` null).
    let cancelled = charge(false, None, 10_000);
    assert_eq!(read(&cancelled, ACACIA), None);
    // A partial capture of 7,000: the 3,000 released.
    assert_eq!(read(&charge(true, Some(7_000), 3_000), ACACIA), None);
    // Then 2,000 refunded, then all of the 7,000 captured.
    assert_eq!(
        read(&charge(true, Some(7_000), 5_000), ACACIA),
        refunded(2_000, false)
    );
    assert_eq!(
        read(&charge(true, Some(7_000), 10_000), ACACIA),
        refunded(7_000, true)
    );
    // A charge captured in full: nothing to discount, in any version.
    assert_eq!(
        read(&charge(true, Some(10_000), 2_500), ACACIA),
        refunded(2_500, false)
    );
    // Since 2025-03-31 the release is not booked: `amount_refunded` is money given back.
    assert_eq!(
        read(&charge(true, Some(7_000), 2_000), BASIL),
        refunded(2_000, false)
    );
    assert_eq!(
        read(&charge(true, Some(7_000), 2_000), None),
        refunded(2_000, false)
    );
    // An older charge without `captured` or `amount_captured`: nothing discounted on a guess.
    let bare = json!({"id": "ch_h", "amount": 10_000, "amount_refunded": 2_500,
                      "payment_intent": "pi_h"});
    assert_eq!(read(&bare, ACACIA), refunded(2_500, false));
}
