//! The PaymentIntent behind each completed payment session, as Stripe keeps it: paid at once
//! (`succeeded`), still processing (a delayed payment method), or, when the session asked for
//! `payment_intent_data[capture_method]=manual`, only authorized (`requires_capture`, a hold on
//! the card until `capture_before`) until it is captured, canceled or lapses (`holds.rs`).
//! Objects are Stripe's samples filled in ([`crate::samples`]).

use serde_json::Value;

use crate::charge::{Charge, Hold, now};
use crate::intent_book::{HOLD_SECONDS, Intent};
use crate::objects::random_id;
use crate::state::Inner;

impl Inner {
    /// The PaymentIntent of a session just completed (`session` as it now is) with
    /// `payment_status`: made, with its charge when paid; the events of an authorization
    /// (`charge.succeeded` with the charge uncaptured, `payment_intent.amount_capturable_updated`)
    /// recorded and returned, to come before the session's own.
    pub(crate) fn open_intent(&mut self, session: &Value, payment_status: &str) -> Vec<Value> {
        let (Some(pi), Some(session_id)) =
            (session["payment_intent"].as_str(), session["id"].as_str())
        else {
            return Vec::new();
        };
        let asked = self
            .intents
            .asked
            .get(session_id)
            .cloned()
            .unwrap_or_default();
        let intent = Intent {
            id: pi.to_owned(),
            amount: session["amount_total"].as_i64().unwrap_or(0),
            manual: asked.manual,
            status: "processing",
            amount_received: 0,
            metadata: asked.metadata,
            created: now(),
            canceled: None,
            captures: Vec::new(),
            latest_charge: None,
        };
        self.intents.made.insert(pi.to_owned(), intent);
        if payment_status == "paid" {
            return self.pay_intent(pi);
        }
        Vec::new()
    }

    /// The payment of `pi` goes through: captured at once (`succeeded`, no event of its own
    /// here), or, for a manual capture, authorized for [`HOLD_SECONDS`] (`requires_capture`,
    /// with `charge.succeeded` and `payment_intent.amount_capturable_updated`).
    pub(crate) fn pay_intent(&mut self, pi: &str) -> Vec<Value> {
        let Some(intent) = self.intents.made.get_mut(pi) else {
            return Vec::new();
        };
        let charge_id = random_id("ch_", 24);
        intent.latest_charge = Some(charge_id.clone());
        let hold = intent.manual.then(|| Hold {
            capture_before: now() + HOLD_SECONDS,
            captured: None,
        });
        if hold.is_some() {
            intent.status = "requires_capture";
        } else {
            intent.status = "succeeded";
            intent.amount_received = intent.amount;
        }
        let (intent_json, manual) = (intent.json(), intent.manual);
        let charge = Charge {
            id: charge_id,
            payment_intent: pi.to_owned(),
            amount: intent.amount,
            refunded: 0,
            dispute: None,
            hold,
        };
        let charge_json = charge.json();
        self.charges.insert(pi.to_owned(), charge);
        if !manual {
            return Vec::new();
        }
        vec![
            self.record("charge.succeeded", charge_json),
            self.record("payment_intent.amount_capturable_updated", intent_json),
        ]
    }

    /// A delayed payment that failed: the PaymentIntent asks for another payment method.
    pub(crate) fn fail_intent(&mut self, pi: &str) {
        if let Some(intent) = self.intents.made.get_mut(pi) {
            intent.status = "requires_payment_method";
        }
    }

    /// The PaymentIntent `pi` as Stripe shows it now.
    pub(crate) fn intent_json(&self, pi: &str) -> Option<Value> {
        self.intents.made.get(pi).map(Intent::json)
    }
}
