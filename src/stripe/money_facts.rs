//! What this system reads of the money's life after the payment: refunds and disputes. They
//! name the PaymentIntent (the session's `payment_intent`), not the session or the order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::Missing;

/// A refund or dispute event, as this system uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyFacts {
    pub payment_intent: String,
    pub change: MoneyChange,
}

/// What happened to the money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MoneyChange {
    /// `charge.refunded`: the charge's refunded amount so far; `full` when all of it is.
    ChargeRefunded {
        charge_id: String,
        amount_refunded: i64,
        full: bool,
    },
    /// `refund.created`, `refund.updated`, `refund.failed` (or the worker's answer to
    /// `POST /v1/refunds`): one refund, and whether it went through or failed.
    RefundUpdated {
        refund_id: String,
        amount: i64,
        succeeded: bool,
        /// `failed` or `canceled`: it never will.
        #[serde(default)]
        failed: bool,
        /// Stripe's `failure_reason` of a failed refund.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure_reason: Option<String>,
        /// The operator's refund request that made it (`metadata[h2s_refund_request]`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
    /// `charge.dispute.created`.
    DisputeOpened {
        dispute_id: String,
        amount: Option<i64>,
        reason: Option<String>,
    },
    /// `charge.dispute.closed`: won (an inquiry closed, or a chargeback prevented, counts as
    /// won: the money stays) or lost.
    DisputeClosed { dispute_id: String, won: bool },
}

/// The refund's metadata key naming the operator's refund request (issue 26).
pub const REQUEST_METADATA: &str = "h2s_refund_request";

/// An id field, whether Stripe sent the id or the expanded object.
fn id_of(v: &Value) -> Option<String> {
    v.as_str().or_else(|| v["id"].as_str()).map(str::to_owned)
}

fn need<T>(value: Option<T>, field: &'static str) -> Result<T, Missing> {
    value.ok_or(Missing(field))
}

/// `charge.dispute.closed`'s `status`: won (the money stays) or lost; `None` for a value
/// this build does not know (the event is then unusable, never guessed).
fn dispute_won(status: &str) -> Option<bool> {
    match status {
        "lost" => Some(false),
        "won" | "warning_closed" | "prevented" => Some(true),
        _ => {
            crate::metrics::stripe_unknown_value("dispute.status");
            None
        }
    }
}

impl MoneyFacts {
    /// The facts of an event object of type `event_type`, of any API version (only the
    /// fields used are read). `Ok(None)` for types not acted on; `Err` names a needed field
    /// the object lacks (a PaymentIntent, say: a charge made outside Checkout).
    pub fn read(event_type: &str, o: &Value) -> Result<Option<Self>, Missing> {
        let change = match event_type {
            "charge.refunded" => {
                let amount_refunded = need(o["amount_refunded"].as_i64(), "amount_refunded")?;
                let full = o["refunded"].as_bool().unwrap_or(false)
                    || o["amount"].as_i64().is_some_and(|a| amount_refunded >= a);
                MoneyChange::ChargeRefunded {
                    charge_id: need(id_of(&o["id"]), "id")?,
                    amount_refunded,
                    full,
                }
            }
            "refund.created" | "refund.updated" | "refund.failed" => MoneyChange::RefundUpdated {
                refund_id: need(id_of(&o["id"]), "id")?,
                amount: need(o["amount"].as_i64(), "amount")?,
                succeeded: o["status"].as_str() == Some("succeeded"),
                failed: matches!(o["status"].as_str(), Some("failed" | "canceled")),
                failure_reason: o["failure_reason"].as_str().map(str::to_owned),
                request: o["metadata"][REQUEST_METADATA].as_str().map(str::to_owned),
            },
            "charge.dispute.created" => MoneyChange::DisputeOpened {
                dispute_id: need(id_of(&o["id"]), "id")?,
                amount: o["amount"].as_i64(),
                reason: o["reason"].as_str().map(str::to_owned),
            },
            "charge.dispute.closed" => MoneyChange::DisputeClosed {
                dispute_id: need(id_of(&o["id"]), "id")?,
                won: need(o["status"].as_str().and_then(dispute_won), "status")?,
            },
            _ => return Ok(None),
        };
        Ok(Some(MoneyFacts {
            payment_intent: need(id_of(&o["payment_intent"]), "payment_intent")?,
            change,
        }))
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(MoneyFacts::read("charge.captured", &refund), Ok(None));
    }
}
