//! A hold's end, as Stripe makes it: captured (all of it or less, the rest released:
//! `charge.captured`, `payment_intent.succeeded`), canceled (released:
//! `payment_intent.canceled`), or lapsed at `capture_before` (`charge.expired`,
//! `payment_intent.canceled` with `cancellation_reason` `expired`; `automatic` before API
//! version 2025-03-31). Since 2025-03-31 none of these makes a refund object or
//! `charge.refunded`, and the charge of a released hold stays uncaptured (`amount_captured` 0,
//! `refunded` false). Refused as Stripe refuses: a second capture or a cancel after one
//! (`payment_intent_unexpected_state`), more than the hold (`amount_too_large`), a capture
//! after the hold lapsed (`charge_expired_for_capture`).

use serde_json::Value;

use crate::charge::now;
use crate::error::StripeError;
use crate::intent_book::Intent;
use crate::state::Inner;

/// The first API version whose lapsed holds are canceled `expired` (before: `automatic`).
const EXPIRED_REASON_SINCE: &str = "2025-03-31";

/// The statuses a PaymentIntent may be canceled in.
const CANCELABLE: [&str; 5] = [
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
];

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

fn unexpected_state(intent: &Intent, message: String) -> StripeError {
    let mut err = StripeError::invalid("payment_intent_unexpected_state", message, None);
    err.payment_intent = Some(intent.json());
    err
}

impl Inner {
    fn intent(&self, pi: &str) -> Result<&Intent, StripeError> {
        self.intents
            .made
            .get(pi)
            .ok_or_else(|| StripeError::resource_missing("payment_intent", pi, "intent"))
    }

    /// `cancellation_reason` of a lapsed hold at the API version events are rendered in.
    pub(crate) fn lapse_reason(&self) -> &'static str {
        match &self.api_version {
            Some(v) if v.as_str() < EXPIRED_REASON_SINCE => "automatic",
            _ => "expired",
        }
    }

    /// Whether `pi` was canceled because its hold lapsed.
    fn lapsed(intent: &Intent) -> bool {
        matches!(&intent.canceled, Some((_, Some(r))) if r == "expired" || r == "automatic")
    }

    /// Lapses the hold of `pi` if it is still held and its `capture_before` has passed (Stripe
    /// does so on its own clock); the events recorded.
    pub(crate) fn lapse_if_due(&mut self, pi: &str) -> Vec<Value> {
        let due = self
            .charges
            .get(pi)
            .and_then(|c| c.hold.as_ref())
            .is_some_and(|h| h.captured.is_none() && h.capture_before <= now());
        if due {
            self.lapse(pi).unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// The hold of `pi` lapses now: `charge.expired`, then `payment_intent.canceled`.
    pub(crate) fn lapse(&mut self, pi: &str) -> Result<Vec<Value>, String> {
        let reason = self.lapse_reason();
        let intent = (self.intents.made.get_mut(pi))
            .ok_or_else(|| format!("No such payment_intent: '{pi}'"))?;
        if intent.status != "requires_capture" {
            return Err(format!(
                "PaymentIntent {pi} is {}: only a hold (requires_capture) lapses.",
                intent.status
            ));
        }
        intent.status = "canceled";
        intent.canceled = Some((now(), Some(reason.to_owned())));
        let intent_json = intent.json();
        let charge = self.charges.get(pi).map(|c| c.json()).unwrap_or_default();
        Ok(vec![
            self.record("charge.expired", charge),
            self.record("payment_intent.canceled", intent_json),
        ])
    }

    /// `POST /v1/payment_intents/{pi}/capture` with `amount_to_capture` (all of the hold when
    /// `None`): the PaymentIntent, and the events recorded.
    pub(crate) fn capture(
        &mut self,
        pi: &str,
        amount: Option<i64>,
    ) -> Result<(Value, Vec<Value>), StripeError> {
        let intent = self.intent(pi)?;
        if Self::lapsed(intent) {
            let mut err = StripeError::invalid(
                "charge_expired_for_capture",
                "The charge cannot be captured as the authorization has expired. Auth and \
                 capture charges must be captured within seven days.",
                None,
            );
            err.payment_intent = Some(intent.json());
            return Err(err);
        }
        if intent.status != "requires_capture" {
            let message = format!(
                "This PaymentIntent could not be captured because it has a status of {}. Only a \
                 PaymentIntent with one of the following statuses may be captured: \
                 requires_capture.",
                intent.status
            );
            return Err(unexpected_state(intent, message));
        }
        let capturable = intent.amount;
        let amount = amount.unwrap_or(capturable);
        if amount < 1 || amount > capturable {
            let message = format!(
                "The amount to capture ({}) must be at least $0.01 and at most the amount \
                 capturable ({}).",
                dollars(amount),
                dollars(capturable)
            );
            let param = Some("amount_to_capture".to_owned());
            return Err(StripeError::invalid("amount_too_large", message, param));
        }
        let intent = self.intents.made.get_mut(pi).expect("found above");
        intent.status = "succeeded";
        intent.amount_received = amount;
        intent.captures.push(amount);
        let intent_json = intent.json();
        let charge = self
            .charges
            .get_mut(pi)
            .expect("a held payment has a charge");
        if let Some(hold) = &mut charge.hold {
            hold.captured = Some(amount);
        }
        let charge_json = charge.json();
        let events = vec![
            self.record("charge.captured", charge_json),
            self.record("payment_intent.succeeded", intent_json.clone()),
        ];
        Ok((intent_json, events))
    }

    /// `POST /v1/payment_intents/{pi}/cancel` with `cancellation_reason` (none when not
    /// given): the PaymentIntent, and `payment_intent.canceled` recorded.
    pub(crate) fn cancel(
        &mut self,
        pi: &str,
        reason: Option<String>,
    ) -> Result<(Value, Vec<Value>), StripeError> {
        let intent = self.intent(pi)?;
        if !CANCELABLE.contains(&intent.status) {
            let message = format!(
                "You cannot cancel this PaymentIntent because it has a status of {}. Only a \
                 PaymentIntent with one of the following statuses may be canceled: {}.",
                intent.status,
                CANCELABLE.join(", ")
            );
            return Err(unexpected_state(intent, message));
        }
        let intent = self.intents.made.get_mut(pi).expect("found above");
        intent.status = "canceled";
        intent.canceled = Some((now(), reason));
        let intent_json = intent.json();
        let events = vec![self.record("payment_intent.canceled", intent_json.clone())];
        Ok((intent_json, events))
    }

    /// Moves the hold of `pi`'s `capture_before` to `at` (unix seconds).
    pub(crate) fn set_capture_before(&mut self, pi: &str, at: i64) -> Result<(), String> {
        let hold = (self.charges.get_mut(pi))
            .and_then(|c| c.hold.as_mut())
            .filter(|h| h.captured.is_none())
            .ok_or_else(|| format!("PaymentIntent {pi} has no uncaptured hold."))?;
        hold.capture_before = at;
        Ok(())
    }
}

/// The `cancellation_reason` asked for, if any.
pub(crate) fn reason(params: &[(String, String)]) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == "cancellation_reason")
        .map(|(_, v)| v.clone())
}

/// The `amount_to_capture` asked for, if any (Stripe's schema has checked it is an integer).
pub(crate) fn amount_to_capture(params: &[(String, String)]) -> Option<i64> {
    params
        .iter()
        .find(|(k, _)| k == "amount_to_capture")
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapse_is_expired_at_our_version_and_automatic_before_2025_03_31() {
        let mut inner = Inner::default();
        assert_eq!(inner.lapse_reason(), "expired");
        inner.api_version = Some("2025-02-24.acacia".into());
        assert_eq!(inner.lapse_reason(), "automatic");
        inner.api_version = Some("2025-03-31.basil".into());
        assert_eq!(inner.lapse_reason(), "expired");
        assert_eq!(dollars(1_005), "$10.05");
    }
}
