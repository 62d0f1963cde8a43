//! The money's life after a paid session, as Stripe tells it: refunds (`charge.refunded`,
//! `refund.updated`) and disputes (`charge.dispute.created`, `charge.dispute.closed`), each
//! recorded (listed by `GET /v1/events`) and returned for the caller to deliver or hold back.
//! Objects are Stripe's samples filled in ([`crate::samples`]).

use serde_json::Value;

use crate::charge::{Charge, now};
use crate::objects::{event_json, random_id};
use crate::samples;
use crate::state::{Inner, Shared};

impl Inner {
    /// The charge of a paid session (made on first use), or of a captured hold.
    pub(crate) fn charge(&mut self, session_id: &str) -> Result<&mut Charge, String> {
        let session = self
            .session(session_id)
            .ok_or_else(|| format!("No such checkout session: {session_id}"))?;
        let held = session["payment_intent"]
            .as_str()
            .and_then(|pi| self.charges.get(pi))
            .filter(|charge| charge.hold.is_some())
            .map(|charge| (charge.payment_intent.clone(), charge.captured_amount() > 0));
        if let Some((pi, captured)) = held {
            if !captured {
                return Err(format!("PaymentIntent {pi} has no captured payment."));
            }
            return Ok(self.charges.get_mut(&pi).expect("found above"));
        }
        let (Some(pi), Some("paid")) = (
            session["payment_intent"].as_str(),
            session["payment_status"].as_str(),
        ) else {
            return Err(format!(
                "Checkout Session {session_id} has no successful payment."
            ));
        };
        let (pi, amount) = (pi.to_owned(), session["amount_total"].as_i64().unwrap_or(0));
        Ok(self.charges.entry(pi.clone()).or_insert_with(|| Charge {
            id: random_id("ch_", 24),
            payment_intent: pi,
            amount,
            refunded: 0,
            dispute: None,
            hold: None,
        }))
    }

    /// Records an event of `event_type` about `object` (as it is now), in the API version
    /// events are rendered in; the event.
    pub(crate) fn record(&mut self, event_type: &str, object: Value) -> Value {
        let mut event = event_json(event_type, object, now());
        if let Some(version) = &self.api_version {
            event["api_version"] = Value::from(version.as_str());
        }
        self.events.push(event.clone());
        event
    }
}

impl Shared {
    /// Refunds `amount` (all that is left when `None`) of the session's payment: records
    /// `refund.created` (pending), `charge.refunded` and `refund.updated` (succeeded), in
    /// that order, as Stripe sends them.
    pub(crate) fn refund(
        &self,
        session_id: &str,
        amount: Option<i64>,
    ) -> Result<Vec<Value>, String> {
        let mut inner = self.lock();
        let charge = inner.charge(session_id)?;
        if charge.dispute.is_some() {
            return Err(format!("Charge {} has been disputed.", charge.id));
        }
        let left = charge.refundable();
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})."
            ));
        }
        charge.refunded += amount;
        let (charge_json, charge_id, pi) = (
            charge.json(),
            charge.id.clone(),
            charge.payment_intent.clone(),
        );
        let (refund_id, created) = (random_id("re_", 24), now());
        let refund = |status| samples::refund(&refund_id, &charge_id, &pi, amount, status, created);
        // Stripe's order for a card refund: created (pending), the charge, then the refund's
        // outcome.
        Ok(vec![
            inner.record("refund.created", refund("pending")),
            inner.record("charge.refunded", charge_json),
            inner.record("refund.updated", refund("succeeded")),
        ])
    }

    /// Opens a dispute on the session's payment: records `charge.dispute.created`.
    pub(crate) fn open_dispute(&self, session_id: &str) -> Result<Value, String> {
        let mut inner = self.lock();
        let charge = inner.charge(session_id)?;
        if charge.dispute.is_some() || charge.refundable() <= 0 {
            return Err(format!("Charge {} cannot be disputed now.", charge.id));
        }
        charge.dispute = Some((random_id("dp_", 24), None));
        let dispute = charge.dispute_json("needs_response");
        Ok(inner.record("charge.dispute.created", dispute))
    }

    /// Closes the session's open dispute, won or lost: records `charge.dispute.closed`.
    pub(crate) fn close_dispute(&self, session_id: &str, won: bool) -> Result<Value, String> {
        let mut inner = self.lock();
        let charge = inner.charge(session_id)?;
        let Some((_, closed @ None)) = &mut charge.dispute else {
            return Err(format!("Charge {} has no open dispute.", charge.id));
        };
        *closed = Some(won);
        let dispute = charge.dispute_json(if won { "won" } else { "lost" });
        Ok(inner.record("charge.dispute.closed", dispute))
    }
}
