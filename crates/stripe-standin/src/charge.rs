//! A paid session's charge as the stand-in keeps it: refunded so far, its dispute.

use serde_json::Value;

use crate::samples;

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
    /// The charge as Stripe shows it now (Stripe's sample, filled in).
    pub fn json(&self) -> Value {
        samples::charge(
            &self.id,
            &self.payment_intent,
            self.amount,
            self.refunded,
            self.dispute.is_some(),
            now(),
        )
    }

    /// Its dispute, in `status` (Stripe's sample, filled in).
    pub fn dispute_json(&self, status: &str) -> Value {
        let id = self.dispute.as_ref().map(|(id, _)| id.as_str());
        samples::dispute(
            id.unwrap_or_default(),
            &self.id,
            &self.payment_intent,
            self.amount,
            status,
            now(),
        )
    }
}
