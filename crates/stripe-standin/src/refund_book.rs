//! The stand-in's book of refunds made through `POST /v1/refunds` (`refunds.rs`), and the
//! switch a test uses to hold their answers back after the refund is made.

use serde_json::Value;
use tokio::sync::watch;

/// The refunds made, and the switch that holds their answers back.
pub(crate) struct RefundBook {
    made: Vec<Value>,
    held: watch::Sender<bool>,
    /// New refunds start `pending` (until settled) rather than `succeeded`.
    pending_first: bool,
}

impl Default for RefundBook {
    fn default() -> Self {
        RefundBook {
            made: Vec::new(),
            held: watch::Sender::new(false),
            pending_first: false,
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

    /// The refund `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.made.iter_mut().find(|r| r["id"] == id)
    }

    /// The status a new refund starts in.
    pub fn new_status(&self) -> &'static str {
        if self.pending_first {
            "pending"
        } else {
            "succeeded"
        }
    }

    pub fn set_pending_first(&mut self, pending: bool) {
        self.pending_first = pending;
    }

    /// Watches the switch: an answer waits while it reads `true`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.held.subscribe()
    }

    pub fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }
}
