//! The stand-in's book of refunds made through `POST /v1/refunds` (`refunds.rs`), and the
//! switch a test uses to hold their answers back after the refund is made.

use serde_json::Value;
use tokio::sync::watch;

/// The refunds made, and the switch that holds their answers back.
pub(crate) struct RefundBook {
    made: Vec<Value>,
    held: watch::Sender<bool>,
}

impl Default for RefundBook {
    fn default() -> Self {
        RefundBook {
            made: Vec::new(),
            held: watch::Sender::new(false),
        }
    }
}

impl RefundBook {
    pub fn push(&mut self, refund: Value) {
        self.made.push(refund);
    }

    pub fn made(&self) -> &[Value] {
        &self.made
    }

    /// Watches the switch: an answer waits while it reads `true`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.held.subscribe()
    }

    pub fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }
}
