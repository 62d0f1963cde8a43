//! What this system reads of a Stripe Checkout Session, whether Stripe sent it in an event,
//! the sweep retrieved or listed it, or the worker created it: the fields of
//! [`super::fields::READ`], from the JSON, so that any API version reads the same.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::Missing;
use crate::orders::transition::PaymentEvent;

/// A session's `status`; a value this build does not know is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
    Other(String),
}

impl From<&str> for SessionStatus {
    fn from(s: &str) -> Self {
        match s {
            "open" => SessionStatus::Open,
            "complete" => SessionStatus::Complete,
            "expired" => SessionStatus::Expired,
            other => {
                crate::metrics::stripe_unknown_value("checkout.session.status");
                SessionStatus::Other(other.to_owned())
            }
        }
    }
}

/// A session's `payment_status`; a value this build does not know is kept as it came (and
/// is not a payment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
    Other(String),
}

impl From<&str> for SessionPaymentStatus {
    fn from(s: &str) -> Self {
        match s {
            "paid" => SessionPaymentStatus::Paid,
            "unpaid" => SessionPaymentStatus::Unpaid,
            "no_payment_required" => SessionPaymentStatus::NoPaymentRequired,
            other => {
                crate::metrics::stripe_unknown_value("checkout.session.payment_status");
                SessionPaymentStatus::Other(other.to_owned())
            }
        }
    }
}

/// What we use of a Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub session_id: String,
    pub url: Option<String>,
    pub status: Option<SessionStatus>,
    pub payment_status: Option<SessionPaymentStatus>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// The PaymentIntent of a completed session (payment mode): what refunds and disputes name.
    pub payment_intent: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl SessionFacts {
    /// A session object of any API version: only the fields used are read, each of a
    /// type other than expected read as absent. Only the id is needed.
    pub fn read(o: &Value) -> Result<Self, Missing> {
        let details = &o["customer_details"];
        Ok(SessionFacts {
            session_id: text(&o["id"]).ok_or(Missing("id"))?,
            url: text(&o["url"]),
            status: o["status"].as_str().map(SessionStatus::from),
            payment_status: o["payment_status"].as_str().map(SessionPaymentStatus::from),
            client_reference_id: text(&o["client_reference_id"]),
            metadata: o["metadata"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            amount_total: o["amount_total"].as_i64(),
            currency: text(&o["currency"]),
            customer_email: text(&details["email"]).or_else(|| text(&o["customer_email"])),
            customer_name: text(&details["name"]),
            customer_phone: text(&details["phone"]),
            expires_at: o["expires_at"].as_i64(),
            payment_intent: text(&o["payment_intent"]).or_else(|| text(&o["payment_intent"]["id"])),
        })
    }

    /// [`SessionFacts::read`], `None` without an id (an empty list's missing first item).
    pub fn from_json(o: &Value) -> Option<Self> {
        Self::read(o).ok()
    }

    /// The event a `checkout.session.completed` with this payment status stands for.
    pub fn completed_event(&self) -> Result<PaymentEvent, Missing> {
        match self
            .payment_status
            .as_ref()
            .ok_or(Missing("payment_status"))?
        {
            SessionPaymentStatus::Paid | SessionPaymentStatus::NoPaymentRequired => {
                Ok(PaymentEvent::CompletedPaid)
            }
            _ => Ok(PaymentEvent::CompletedUnpaid),
        }
    }

    /// What a retrieved session says happened, for the reconciler: `None` while it is open
    /// (or when it does not say).
    pub fn observed_event(&self) -> Option<PaymentEvent> {
        match self.status {
            Some(SessionStatus::Complete) => self.completed_event().ok(),
            Some(SessionStatus::Expired) => Some(PaymentEvent::Expired),
            _ => None,
        }
    }
}
