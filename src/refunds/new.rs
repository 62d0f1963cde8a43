//! A refund request as the operator sends it ([`RawRefund`]), parsed ([`NewRefund`]), and
//! its id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The id of a refund request: Stripe's `Idempotency-Key` for its refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct RefundRequestId(pub Uuid);

impl std::fmt::Display for RefundRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The admin body as it arrives; an unknown field is refused (a misspelt `cancel_job` must
/// not refund without cancelling).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRefund {
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub cancel_job: Option<bool>,
    pub override_dispatched: Option<bool>,
}

/// Longest reason kept, in characters.
pub const REASON_MAX: usize = 500;

/// A refund an operator asks for, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRefund {
    /// Cents; `None`: all that remains refundable.
    pub amount: Option<i64>,
    pub reason: String,
    pub cancel_job: bool,
    pub override_dispatched: bool,
}

/// Why a body is refused: `(field, message)`.
pub type Invalid = (&'static str, String);

impl NewRefund {
    pub fn parse(raw: RawRefund) -> Result<Self, Invalid> {
        if let Some(amount) = raw.amount
            && amount <= 0
        {
            return Err(("amount", "must be a positive number of cents".into()));
        }
        let reason = raw.reason.as_deref().map(str::trim).unwrap_or_default();
        if reason.is_empty() {
            return Err(("reason", "a reason is required".into()));
        }
        if reason.chars().count() > REASON_MAX {
            return Err(("reason", format!("at most {REASON_MAX} characters")));
        }
        Ok(NewRefund {
            amount: raw.amount,
            reason: reason.to_owned(),
            cancel_job: raw.cancel_job.unwrap_or(false),
            override_dispatched: raw.override_dispatched.unwrap_or(false),
        })
    }

    /// A stable fingerprint, to tell a repeat of the request from another one under the same
    /// `Idempotency-Key`.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("a refund serialises");
        hex::encode(Sha256::digest(&canonical))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_needs_a_reason_and_a_positive_amount_if_any() {
        let raw = |amount, reason: &str| RawRefund {
            amount,
            reason: Some(reason.into()),
            ..RawRefund::default()
        };
        assert_eq!(NewRefund::parse(raw(Some(0), "x")).unwrap_err().0, "amount");
        assert_eq!(NewRefund::parse(raw(None, "  ")).unwrap_err().0, "reason");
        let ok = NewRefund::parse(raw(None, " customer cancelled ")).unwrap();
        assert_eq!(
            (ok.amount, ok.reason.as_str()),
            (None, "customer cancelled")
        );
        assert!(!ok.cancel_job && !ok.override_dispatched);
        assert_ne!(
            ok.hash(),
            NewRefund::parse(raw(Some(5), "x")).unwrap().hash()
        );
    }
}
