//! A pending refund settles, as Stripe tells it: `refund.updated` with the refund
//! `succeeded`; or, when it fails, `refund.updated` with the refund `failed` (and its
//! `failure_reason`), then `refund.failed`, and the money goes back to the balance (the
//! charge's refunded amount drops by it). Refunds made through `POST /v1/refunds` start
//! `pending` after [`StandIn::set_refunds_pending`].

use serde_json::{Value, json};

use crate::handle::StandIn;
use crate::objects::random_id;
use crate::state::Inner;
use crate::webhook::Delivery;

/// Why a refund failed, as Stripe says (`failure_reason`).
pub const FAILURE_REASON: &str = "expired_or_canceled_card";

impl Inner {
    /// Settles the pending refund `id`; the events recorded, in order.
    fn settle_refund(&mut self, id: &str, succeeded: bool) -> Result<Vec<Value>, String> {
        let refund = self
            .refunds
            .get_mut(id)
            .ok_or_else(|| format!("No such refund: '{id}'"))?;
        if refund["status"] != "pending" {
            return Err(format!("Refund {id} is {}, not pending.", refund["status"]));
        }
        let object = refund.as_object_mut().expect("a refund is an object");
        object.remove("pending_reason");
        if succeeded {
            object.insert("status".into(), json!("succeeded"));
        } else {
            object.insert("status".into(), json!("failed"));
            object.insert("failure_reason".into(), json!(FAILURE_REASON));
            let txn = random_id("txn_", 24);
            object.insert("failure_balance_transaction".into(), json!(txn));
        }
        let refund = refund.clone();
        if !succeeded {
            let (pi, amount) = (refund["payment_intent"].as_str(), refund["amount"].as_i64());
            if let (Some(charge), Some(amount)) =
                (pi.and_then(|pi| self.charges.get_mut(pi)), amount)
            {
                charge.refunded -= amount;
            }
        }
        let mut events = vec![self.record("refund.updated", refund.clone())];
        if !succeeded {
            events.push(self.record("refund.failed", refund));
        }
        Ok(events)
    }
}

impl StandIn {
    /// From now on (`true`), refunds made through `POST /v1/refunds` are `pending` until
    /// [`StandIn::settle_refund`]; `false`: they succeed at once (the default).
    pub fn set_refunds_pending(&self, pending: bool) {
        self.shared.lock().refunds.set_pending_first(pending);
    }

    /// The pending refund `id` succeeds or fails; its events are recorded and delivered to
    /// the webhook target in order, each delivery returned.
    pub async fn settle_refund(&self, id: &str, succeeded: bool) -> anyhow::Result<Vec<Delivery>> {
        let events = self
            .shared
            .lock()
            .settle_refund(id, succeeded)
            .map_err(anyhow::Error::msg)?;
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            deliveries.push(self.shared.deliver(event).await?);
        }
        Ok(deliveries)
    }
}
