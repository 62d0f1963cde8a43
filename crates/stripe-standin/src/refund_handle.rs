//! What a test asks the stand-in about refunds (`refunds.rs`), and the switches that hold
//! their answers (and sessions') back.

use serde_json::Value;

use crate::handle::StandIn;

impl StandIn {
    /// Every refund made through `POST /v1/refunds`, oldest first (replays not counted).
    pub fn refunds(&self) -> Vec<Value> {
        self.shared.lock().refunds.made().to_vec()
    }

    /// From now on, `POST /v1/refunds` makes the refund and then holds its answer back
    /// until [`StandIn::release_refund_answers`].
    pub fn hold_refund_answers(&self) {
        self.shared.lock().refunds.hold(true);
    }

    pub fn release_refund_answers(&self) {
        self.shared.lock().refunds.hold(false);
    }

    /// From now on, `POST /v1/checkout/sessions` makes the session and then holds its answer
    /// back until [`StandIn::release_session_answers`].
    pub fn hold_session_answers(&self) {
        self.shared.session_answers_held.send_replace(true);
    }

    pub fn release_session_answers(&self) {
        self.shared.session_answers_held.send_replace(false);
    }
}
