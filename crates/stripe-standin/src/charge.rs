//! A paid session's charge as the stand-in keeps it: refunded so far, its dispute.

use serde_json::{Value, json};

/// What Stripe holds of one paid session's charge.
#[derive(Clone, Debug)]
pub(crate) struct Charge {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub refunded: i64,
    /// The dispute, once opened (its id and whether it is closed).
    pub dispute: Option<(String, Option<bool>)>,
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Charge {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "charge", "amount": self.amount,
            "amount_captured": self.amount, "amount_refunded": self.refunded,
            "billing_details": {"address": null, "email": null, "name": null, "phone": null},
            "captured": true, "created": now(), "currency": "usd",
            "disputed": self.dispute.is_some(), "livemode": false, "metadata": {},
            "paid": true, "payment_intent": self.payment_intent,
            "refunded": self.refunded >= self.amount, "status": "succeeded",
        })
    }

    pub fn dispute_json(&self, status: &str) -> Value {
        let id = self.dispute.as_ref().map(|(id, _)| id.clone());
        json!({
            "id": id, "object": "dispute", "amount": self.amount, "balance_transactions": [],
            "charge": self.id, "created": now(), "currency": "usd",
            "enhanced_eligibility_types": [],
            "evidence": {"enhanced_evidence": {}},
            "evidence_details": {"enhanced_eligibility": {}, "has_evidence": false,
                                 "past_due": false, "submission_count": 0},
            "is_charge_refundable": false, "livemode": false, "metadata": {},
            "payment_intent": self.payment_intent, "reason": "fraudulent", "status": status,
        })
    }
}
