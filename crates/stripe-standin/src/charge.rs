//! A paid session's charge as the stand-in keeps it: captured or only authorized (a hold),
//! refunded so far, its dispute.

use serde_json::{Value, json};

use crate::samples;

/// What Stripe holds of one paid session's charge.
#[derive(Clone, Debug)]
pub(crate) struct Charge {
    pub id: String,
    pub payment_intent: String,
    /// Authorized (and, captured at once, captured).
    pub amount: i64,
    pub refunded: i64,
    /// The dispute, once opened (its id and whether it is closed).
    pub dispute: Option<(String, Option<bool>)>,
    /// An authorization of a manual-capture payment: `Some` until (and after) its capture.
    pub hold: Option<Hold>,
}

/// The authorization of a manual-capture charge.
#[derive(Clone, Debug)]
pub(crate) struct Hold {
    /// `payment_method_details.card.capture_before` (unix seconds).
    pub capture_before: i64,
    /// What was captured (`None`: not captured, which stays so once released or lapsed).
    pub captured: Option<i64>,
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Charge {
    /// What can still be refunded: what was captured, less what was refunded.
    pub fn refundable(&self) -> i64 {
        self.captured_amount() - self.refunded
    }

    /// What was captured: the amount, or a hold's capture (0 before it).
    pub fn captured_amount(&self) -> i64 {
        match &self.hold {
            None => self.amount,
            Some(hold) => hold.captured.unwrap_or(0),
        }
    }

    /// The charge as Stripe shows it now (Stripe's sample, filled in). An uncaptured
    /// authorization says `captured: false`, `amount_captured: 0`, no balance transaction, and
    /// when it lapses in `payment_method_details.card.capture_before`.
    pub fn json(&self) -> Value {
        let mut charge = samples::charge(
            &self.id,
            &self.payment_intent,
            self.amount,
            self.refunded,
            self.dispute.is_some(),
            now(),
        );
        if let Some(hold) = &self.hold {
            let captured = hold.captured.unwrap_or(0);
            charge["captured"] = json!(hold.captured.is_some());
            charge["amount_captured"] = json!(captured);
            charge["refunded"] = json!(hold.captured.is_some() && self.refunded >= captured);
            if hold.captured.is_none() {
                charge["balance_transaction"] = Value::Null;
            }
            let card = &mut charge["payment_method_details"]["card"];
            card["capture_before"] = json!(hold.capture_before);
            card["amount_authorized"] = json!(self.amount);
        }
        charge
    }

    /// Its dispute, in `status` (Stripe's sample, filled in).
    pub fn dispute_json(&self, status: &str) -> Value {
        let id = self.dispute.as_ref().map(|(id, _)| id.as_str());
        samples::dispute(
            id.unwrap_or_default(),
            &self.id,
            &self.payment_intent,
            self.captured_amount(),
            status,
            now(),
        )
    }
}
