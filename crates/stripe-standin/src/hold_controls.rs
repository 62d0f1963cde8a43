//! What a test asks the stand-in about PaymentIntents and their holds (`intents.rs`,
//! `holds.rs`), and the controls it drives them with: a hold lapses now, or its
//! `capture_before` comes near; the answers of captures and cancels are held back; events
//! are rendered in another API version.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::charge::now;
use crate::handle::StandIn;
use crate::state::Shared;
use crate::webhook::Delivery;

impl StandIn {
    /// The PaymentIntent `id` as Stripe shows it now, `None` if there is none (a session gets
    /// its PaymentIntent when it completes).
    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.shared.lock().intent_json(id)
    }

    /// The charge of the PaymentIntent `payment_intent` as Stripe shows it now (`None` before
    /// it is paid or authorized).
    pub fn charge_of(&self, payment_intent: &str) -> Option<Value> {
        let inner = self.shared.lock();
        inner.charges.get(payment_intent).map(|c| c.json())
    }

    /// The captures made of `payment_intent`, each one's amount, oldest first: replays of an
    /// idempotency key and refused captures are not captures, so `captures(pi).len()` is the
    /// number of captures Stripe made.
    pub fn captures(&self, payment_intent: &str) -> Vec<i64> {
        let inner = self.shared.lock();
        (inner.intents.made.get(payment_intent))
            .map(|i| i.captures.clone())
            .unwrap_or_default()
    }

    /// Captures made, all PaymentIntents together.
    pub fn total_captures(&self) -> usize {
        let inner = self.shared.lock();
        inner.intents.made.values().map(|i| i.captures.len()).sum()
    }

    /// The hold of `payment_intent` (`requires_capture`) lapses now: it is `canceled`
    /// (`cancellation_reason` `expired`; `automatic` in API versions before 2025-03-31), and
    /// `charge.expired` then `payment_intent.canceled` are recorded and delivered in order, each
    /// delivery returned.
    pub async fn lapse_hold(&self, payment_intent: &str) -> anyhow::Result<Vec<Delivery>> {
        let events = self.lapse_hold_silently(payment_intent)?;
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            deliveries.push(self.shared.deliver(event).await?);
        }
        Ok(deliveries)
    }

    /// As [`StandIn::lapse_hold`], the events recorded (listed by `GET /v1/events`) and
    /// returned, not sent: webhooks Stripe never delivered.
    pub fn lapse_hold_silently(&self, payment_intent: &str) -> anyhow::Result<Vec<Value>> {
        (self.shared.lock().lapse(payment_intent)).map_err(anyhow::Error::msg)
    }

    /// Moves the `capture_before` of `payment_intent`'s uncaptured hold to `at` (unix
    /// seconds; the charge's `payment_method_details.card.capture_before`). When `at` passes,
    /// the hold lapses as with [`StandIn::lapse_hold`], its events delivered, unless it was
    /// captured or canceled first or `at` moved again; a capture, cancel or retrieve after `at`
    /// finds it lapsed in any case.
    pub fn set_capture_before(&self, payment_intent: &str, at: i64) -> anyhow::Result<()> {
        (self.shared.lock().set_capture_before(payment_intent, at)).map_err(anyhow::Error::msg)?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = Arc::downgrade(&self.shared);
            let pi = payment_intent.to_owned();
            runtime.spawn(async move {
                let wait = u64::try_from(at - now()).unwrap_or(0);
                // Past `at`'s second, so that `capture_before <= now` holds then.
                tokio::time::sleep(Duration::from_millis(wait * 1000 + 1000)).await;
                if let Some(shared) = shared.upgrade() {
                    lapse_at(&shared, &pi, at);
                }
            });
        }
        Ok(())
    }

    /// [`StandIn::set_capture_before`] to `in_` from now; the new `capture_before`.
    pub fn set_capture_before_in(
        &self,
        payment_intent: &str,
        in_: Duration,
    ) -> anyhow::Result<i64> {
        let at = now() + i64::try_from(in_.as_secs()).unwrap_or(i64::MAX / 2);
        self.set_capture_before(payment_intent, at)?;
        Ok(at)
    }

    /// From now on, `POST /v1/payment_intents/{id}/capture` and `.../cancel` make the capture
    /// (or cancel) and send its webhooks, then hold the answer back until
    /// [`StandIn::release_payment_intent_answers`]: the window in which the caller crashes or
    /// the webhook arrives first.
    pub fn hold_payment_intent_answers(&self) {
        self.shared.lock().intents.hold_answers(true);
    }

    pub fn release_payment_intent_answers(&self) {
        self.shared.lock().intents.hold_answers(false);
    }

    /// Events from now on say they were rendered in API `version` (`"2025-02-24.acacia"`);
    /// a lapsed hold's `cancellation_reason` is `automatic` in versions before 2025-03-31.
    /// The objects keep the shape of Stripe's samples whatever the version.
    pub fn set_api_version(&self, version: &str) {
        self.shared.lock().api_version = Some(version.to_owned());
    }
}

/// The timer of a hold moved to `at`: lapses it if it is still held and still due at `at`.
fn lapse_at(shared: &Arc<Shared>, pi: &str, at: i64) {
    let events = {
        let mut inner = shared.lock();
        let still = (inner.charges.get(pi))
            .and_then(|c| c.hold.as_ref())
            .is_some_and(|h| h.capture_before == at);
        if still {
            inner.lapse_if_due(pi)
        } else {
            Vec::new()
        }
    };
    shared.deliver_later(events);
}
