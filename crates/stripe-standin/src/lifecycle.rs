//! The session lifecycle as Stripe drives it: change the session, record the event, deliver it.
//! The pay page and the test handle go through these.

use crate::change;
use crate::state::Shared;
use crate::webhook::Delivery;

impl Shared {
    pub(crate) async fn complete(
        &self,
        session_id: &str,
        payment_status: &str,
    ) -> anyhow::Result<Delivery> {
        let event = self
            .transition(session_id, "checkout.session.completed", |s| {
                change::complete(s, payment_status)
            })
            .map_err(|e| anyhow::anyhow!(e.message))?;
        self.deliver(event).await
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
        let event_type = if succeeded {
            "checkout.session.async_payment_succeeded"
        } else {
            "checkout.session.async_payment_failed"
        };
        let event = self
            .transition(session_id, event_type, |s| {
                change::async_payment(s, succeeded)
            })
            .map_err(|e| anyhow::anyhow!(e.message))?;
        self.deliver(event).await
    }
}
