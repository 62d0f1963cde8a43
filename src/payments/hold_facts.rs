//! What a hold's fate, as Stripe tells it (`stripe::HoldChange`), amounts to for its order:
//! the payment event, and the amounts it carries.

use crate::{
    orders::transition::{Amounts, Hold, PaymentEvent},
    stripe::HoldChange,
};

/// The payment event a hold's fate amounts to.
pub fn hold_event(hold: HoldChange) -> PaymentEvent {
    match hold {
        HoldChange::Authorized { .. } => PaymentEvent::Authorized,
        HoldChange::Captured { .. } => PaymentEvent::Captured,
        HoldChange::Released => PaymentEvent::Released,
        HoldChange::Lapsed => PaymentEvent::Lapsed,
    }
}

/// The amounts a hold's fate carries: the hold (its end exact when the charge said it), or
/// the amount captured.
pub fn hold_amounts(hold: HoldChange) -> Amounts {
    match hold {
        HoldChange::Authorized {
            amount_capturable,
            capture_before,
        } => Amounts {
            hold: Some(Hold {
                amount: amount_capturable,
                capture_before: capture_before
                    .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0)),
                exact: capture_before.is_some(),
            }),
            ..Amounts::default()
        },
        HoldChange::Captured { amount } => Amounts {
            captured: amount,
            ..Amounts::default()
        },
        HoldChange::Released | HoldChange::Lapsed => Amounts::default(),
    }
}
