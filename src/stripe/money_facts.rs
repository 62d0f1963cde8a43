//! What this system reads of the money's life after the payment: refunds and disputes, and
//! a hold's fate (authorized, captured, released or lapsed). They name the PaymentIntent (the
//! session's `payment_intent`), not the session or the order.

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
    /// A hold (manual capture), as its PaymentIntent or charge tells it.
    Hold(HoldChange),
}

/// A hold's fate, read from a PaymentIntent's `status` (its events, or Stripe's answer to a
/// retrieve, a capture or a cancel) or from a charge's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hold", rename_all = "snake_case")]
pub enum HoldChange {
    /// `requires_capture`: the amount capturable, and the charge's `capture_before` (unix
    /// seconds) when the charge was expanded.
    Authorized {
        amount_capturable: Option<i64>,
        capture_before: Option<i64>,
    },
    /// `succeeded` (`payment_intent.succeeded`, `charge.captured`): the amount captured.
    Captured { amount: Option<i64> },
    /// `canceled` on request: the hold released.
    Released,
    /// `canceled` because the hold lapsed (`cancellation_reason` `expired`, or `automatic`
    /// before API version 2025-03-31), or `charge.expired`.
    Lapsed,
}

impl HoldChange {
    /// A PaymentIntent object (of any API version) by its `status`; `None` for a status that
    /// tells no hold's fate (`processing`, `requires_payment_method`, ...).
    pub fn of_payment_intent(o: &Value) -> Option<HoldChange> {
        Some(match o["status"].as_str()? {
            "requires_capture" => HoldChange::Authorized {
                amount_capturable: o["amount_capturable"].as_i64(),
                capture_before:
                    o["latest_charge"]["payment_method_details"]["card"]["capture_before"].as_i64(),
            },
            "succeeded" => HoldChange::Captured {
                amount: o["amount_received"].as_i64(),
            },
            "canceled" => match o["cancellation_reason"].as_str() {
                Some("expired" | "automatic") => HoldChange::Lapsed,
                _ => HoldChange::Released,
            },
            _ => return None,
        })
    }
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

/// The first API version in which releasing a hold (a cancel, or the uncaptured rest of a
/// partial capture) creates no refund (Stripe's changelog, 2025-03-31.basil). Before it, the
/// release was booked on the charge as refunded money (`amount_refunded`, `charge.refunded`).
pub const RELEASE_NOT_A_REFUND_SINCE: &str = "2025-03-31";

/// Whether an event rendered in `api_version` counts a hold's release in the charge's
/// `amount_refunded`. An event without a version is read as of the current ones.
fn releases_booked_as_refunds(api_version: Option<&str>) -> bool {
    api_version.is_some_and(|v| v < RELEASE_NOT_A_REFUND_SINCE)
}

/// The part of a charge never captured: all of it when `captured` is false, else `amount`
/// less `amount_captured` (0 when a field is missing: nothing is discounted on a guess).
fn uncaptured(o: &Value) -> i64 {
    let Some(amount) = o["amount"].as_i64() else {
        return 0;
    };
    match (o["captured"].as_bool(), o["amount_captured"].as_i64()) {
        (Some(false), _) => amount,
        (_, Some(captured)) => (amount - captured).max(0),
        _ => 0,
    }
}

/// `charge.refunded`: the money given back so far, `None` when the event only books a hold's
/// release (older API versions, [`RELEASE_NOT_A_REFUND_SINCE`]).
fn charge_refunded(o: &Value, api_version: Option<&str>) -> Result<Option<MoneyChange>, Missing> {
    let amount_refunded = need(o["amount_refunded"].as_i64(), "amount_refunded")?;
    let released = if releases_booked_as_refunds(api_version) {
        uncaptured(o)
    } else {
        0
    };
    let given_back = amount_refunded - released;
    if released > 0 && given_back <= 0 {
        return Ok(None);
    }
    let full = if released > 0 {
        o["amount"]
            .as_i64()
            .is_some_and(|a| given_back >= a - released)
    } else {
        o["refunded"].as_bool().unwrap_or(false)
            || o["amount"].as_i64().is_some_and(|a| amount_refunded >= a)
    };
    Ok(Some(MoneyChange::ChargeRefunded {
        charge_id: need(id_of(&o["id"]), "id")?,
        amount_refunded: given_back,
        full,
    }))
}

impl MoneyFacts {
    /// The facts of an event object of type `event_type`, read as of the current API
    /// versions ([`MoneyFacts::read_in`]).
    pub fn read(event_type: &str, o: &Value) -> Result<Option<Self>, Missing> {
        Self::read_in(event_type, o, None)
    }

    /// The facts of an event object of type `event_type`, of the event's `api_version` (any:
    /// only the fields used are read). `Ok(None)` for types not acted on, and for a
    /// `charge.refunded` of an older version that only books a hold's release; `Err` names a
    /// needed field the object lacks (a PaymentIntent, say: a charge made outside Checkout).
    pub fn read_in(
        event_type: &str,
        o: &Value,
        api_version: Option<&str>,
    ) -> Result<Option<Self>, Missing> {
        let change = match event_type {
            "charge.refunded" => match charge_refunded(o, api_version)? {
                Some(change) => change,
                // Only the hold's release: no money went back (its own events tell it).
                None => return Ok(None),
            },
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
            "payment_intent.amount_capturable_updated"
            | "payment_intent.succeeded"
            | "payment_intent.canceled" => {
                return Self::of_payment_intent(o);
            }
            "charge.captured" => MoneyChange::Hold(HoldChange::Captured {
                amount: o["amount_captured"].as_i64(),
            }),
            "charge.expired" => MoneyChange::Hold(HoldChange::Lapsed),
            _ => return Ok(None),
        };
        Ok(Some(MoneyFacts {
            payment_intent: need(id_of(&o["payment_intent"]), "payment_intent")?,
            change,
        }))
    }

    /// A PaymentIntent object (an event's, or Stripe's answer to a retrieve, a capture or a
    /// cancel): its hold's fate, `Ok(None)` when its status tells none.
    pub fn of_payment_intent(o: &Value) -> Result<Option<Self>, Missing> {
        let payment_intent = need(id_of(&o["id"]), "id")?;
        Ok(HoldChange::of_payment_intent(o).map(|hold| MoneyFacts {
            payment_intent,
            change: MoneyChange::Hold(hold),
        }))
    }
}

#[cfg(test)]
mod tests;
