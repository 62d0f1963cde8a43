//! The stand-in's book of PaymentIntents (`intents.rs` makes them, `holds.rs` ends their
//! holds): each one as Stripe keeps it, what each session's `payment_intent_data` asked for,
//! and the switch a test uses to hold capture and cancel answers back.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::objects::NewSession;
use crate::samples;

/// How long a card hold lasts: 7 days for a customer-initiated online card payment.
pub const HOLD_SECONDS: i64 = 7 * 24 * 3600;

/// What a session's `payment_intent_data` asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Asked {
    pub manual: bool,
    pub metadata: Map<String, Value>,
}

impl Asked {
    pub fn from(new: &NewSession) -> Self {
        Asked {
            manual: new.capture_method.as_deref() == Some("manual"),
            metadata: new.intent_metadata.clone(),
        }
    }
}

/// One PaymentIntent.
#[derive(Clone, Debug)]
pub(crate) struct Intent {
    pub id: String,
    pub amount: i64,
    pub manual: bool,
    pub status: &'static str,
    pub amount_received: i64,
    pub metadata: Map<String, Value>,
    pub created: i64,
    /// `canceled_at` and `cancellation_reason`, once canceled.
    pub canceled: Option<(i64, Option<String>)>,
    /// The amount of each capture made (replays are not captures).
    pub captures: Vec<i64>,
    pub latest_charge: Option<String>,
}

impl Intent {
    pub fn json(&self) -> Value {
        let method = if self.manual { "manual" } else { "automatic" };
        let mut pi =
            samples::payment_intent(&self.id, self.amount, method, self.status, self.created);
        pi["amount_received"] = json!(self.amount_received);
        pi["metadata"] = Value::Object(self.metadata.clone());
        pi["latest_charge"] = json!(self.latest_charge);
        if let Some((at, reason)) = &self.canceled {
            pi["canceled_at"] = json!(at);
            pi["cancellation_reason"] = json!(reason);
        }
        if self.latest_charge.is_some() {
            pi["payment_method"] = json!(format!("pm_{}", &self.id[3..]));
        }
        pi
    }
}

/// The PaymentIntents, what each session asked for, and the switch that holds capture
/// answers back.
pub(crate) struct IntentBook {
    pub asked: HashMap<String, Asked>,
    pub made: HashMap<String, Intent>,
    held: watch::Sender<bool>,
}

impl Default for IntentBook {
    fn default() -> Self {
        IntentBook {
            asked: HashMap::new(),
            made: HashMap::new(),
            held: watch::Sender::new(false),
        }
    }
}

impl IntentBook {
    /// Watches the switch: a capture's answer waits while it reads `true`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.held.subscribe()
    }

    pub fn hold_answers(&self, held: bool) {
        self.held.send_replace(held);
    }
}
