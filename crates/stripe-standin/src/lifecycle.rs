//! The session lifecycle as Stripe drives it: change the session, record its events, deliver
//! them. A completed payment session has its PaymentIntent (`intents.rs`); a manual-capture
//! session paid by card completes `unpaid`, its payment only authorized, and its hold's
//! events (`charge.succeeded`, `payment_intent.amount_capturable_updated`) come before
//! `checkout.session.completed`. The pay page and the test handle go through these.

use serde_json::Value;

use crate::change;
use crate::error::StripeError;
use crate::state::{Inner, Shared};
use crate::webhook::Delivery;

impl Inner {
    /// Completes the open session `id`, paid with `payment_status`: the events recorded, in
    /// Stripe's order, `checkout.session.completed` last.
    pub(crate) fn complete_session(
        &mut self,
        id: &str,
        payment_status: &str,
    ) -> Result<Vec<Value>, StripeError> {
        let manual = self.intents.asked.get(id).is_some_and(|a| a.manual);
        let shown = if manual && payment_status == "paid" {
            "unpaid"
        } else {
            payment_status
        };
        let session = self.change_session(id, |s| change::complete(s, shown))?;
        let mut events = self.open_intent(&session, payment_status);
        events.push(self.record("checkout.session.completed", session));
        Ok(events)
    }

    /// A completed session's delayed payment settles: its PaymentIntent pays (or fails), then
    /// `checkout.session.async_payment_succeeded` (or `_failed`).
    fn settle_async_payment(
        &mut self,
        id: &str,
        succeeded: bool,
    ) -> Result<Vec<Value>, StripeError> {
        let session = self.change_session(id, |s| change::async_payment(s, succeeded))?;
        let mut events = Vec::new();
        if let Some(pi) = session["payment_intent"].as_str() {
            if succeeded {
                events = self.pay_intent(pi);
            } else {
                self.fail_intent(pi);
            }
        }
        let event_type = if succeeded {
            "checkout.session.async_payment_succeeded"
        } else {
            "checkout.session.async_payment_failed"
        };
        events.push(self.record(event_type, session));
        Ok(events)
    }
}

impl Shared {
    /// Delivers `events` in order; the last one's delivery.
    async fn deliver_all(&self, events: Vec<Value>) -> anyhow::Result<Delivery> {
        let mut last = None;
        for event in events {
            last = Some(self.deliver(event).await?);
        }
        last.ok_or_else(|| anyhow::anyhow!("no event to deliver"))
    }

    pub(crate) async fn complete(
        &self,
        session_id: &str,
        payment_status: &str,
    ) -> anyhow::Result<Delivery> {
        let events = self
            .lock()
            .complete_session(session_id, payment_status)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        self.deliver_all(events).await
    }

    pub(crate) async fn expire(&self, session_id: &str) -> anyhow::Result<Delivery> {
        let event = self
            .transition(session_id, "checkout.session.expired", change::expire)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        self.deliver(event).await
    }

    pub(crate) async fn async_payment(
        &self,
        session_id: &str,
        succeeded: bool,
    ) -> anyhow::Result<Delivery> {
        let events = self
            .lock()
            .settle_async_payment(session_id, succeeded)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        self.deliver_all(events).await
    }
}
