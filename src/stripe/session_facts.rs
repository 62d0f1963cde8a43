//! What this system reads of a Stripe Checkout Session, whether Stripe sent it in an event,
//! the sweep retrieved it, or the Events API listed it.

use std::collections::BTreeMap;

use stripe_shared::{CheckoutSession, CheckoutSessionPaymentStatus, CheckoutSessionStatus};

use crate::orders::transition::PaymentEvent;

/// What we use of a Checkout Session.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub session_id: String,
    pub url: Option<String>,
    pub status: Option<CheckoutSessionStatus>,
    pub payment_status: CheckoutSessionPaymentStatus,
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

impl From<&CheckoutSession> for SessionFacts {
    fn from(s: &CheckoutSession) -> Self {
        let details = s.customer_details.as_ref();
        SessionFacts {
            session_id: s.id.as_str().to_owned(),
            url: s.url.clone(),
            status: s.status.clone(),
            payment_status: s.payment_status.clone(),
            client_reference_id: s.client_reference_id.clone(),
            metadata: s.metadata.clone().unwrap_or_default().into_iter().collect(),
            amount_total: s.amount_total,
            currency: s.currency.as_ref().map(|c| c.to_string()),
            customer_email: details
                .and_then(|d| d.email.clone())
                .or_else(|| s.customer_email.clone()),
            customer_name: details.and_then(|d| d.name.clone()),
            customer_phone: details.and_then(|d| d.phone.clone()),
            expires_at: Some(s.expires_at),
            payment_intent: s
                .payment_intent
                .as_ref()
                .map(|p| p.id().as_str().to_owned()),
        }
    }
}

impl SessionFacts {
    /// A session object as an event of any API version carries it: only the fields used are
    /// read. `None` without an id or a payment status.
    pub fn from_json(o: &serde_json::Value) -> Option<Self> {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let details = &o["customer_details"];
        Some(SessionFacts {
            session_id: o["id"].as_str()?.to_owned(),
            url: text(&o["url"]),
            status: o["status"].as_str().and_then(|s| s.parse().ok()),
            payment_status: o["payment_status"].as_str()?.parse().ok()?,
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

    /// The event a `checkout.session.completed` with this payment status stands for.
    pub fn completed_event(&self) -> PaymentEvent {
        match self.payment_status {
            CheckoutSessionPaymentStatus::Paid
            | CheckoutSessionPaymentStatus::NoPaymentRequired => PaymentEvent::CompletedPaid,
            _ => PaymentEvent::CompletedUnpaid,
        }
    }

    /// What a retrieved session says happened, for the reconciler: `None` while it is open.
    pub fn observed_event(&self) -> Option<PaymentEvent> {
        match self.status {
            Some(CheckoutSessionStatus::Complete) => Some(self.completed_event()),
            Some(CheckoutSessionStatus::Expired) => Some(PaymentEvent::Expired),
            _ => None,
        }
    }
}
