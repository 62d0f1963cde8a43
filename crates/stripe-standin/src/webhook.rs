//! Signing and delivering events the way Stripe does.

use anyhow::Context;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::state::Shared;

/// An event delivered to the webhook target, and what the target answered.
/// `status` is 0 when no webhook target is set (the event is recorded but not sent:
/// a missed webhook).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: Value,
    pub status: u16,
}

/// An event signed for the current webhook secret, for tests that deliver it themselves.
#[derive(Clone, Debug)]
pub struct SignedEvent {
    pub event_id: String,
    pub payload: String,
    pub signature_header: String,
}

/// Stripe's scheme: `t=<unix>,v1=<hex hmac-sha256(secret bytes as given, "{t}.{payload}")>`.
/// The whole `whsec_...` string is the key, as Stripe's SDKs (and async-stripe) use it.
pub fn sign_payload(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    let v1 = hex::encode(mac.finalize().into_bytes());
    format!("t={timestamp},v1={v1}")
}

pub(crate) fn sign_event(event: &Value, secret: &str) -> SignedEvent {
    let payload = serde_json::to_string_pretty(event).expect("a JSON value serialises");
    SignedEvent {
        event_id: event["id"].as_str().unwrap_or_default().to_owned(),
        signature_header: sign_payload(&payload, secret, chrono::Utc::now().timestamp()),
        payload,
    }
}

impl Shared {
    /// Signs `event` and POSTs it to the webhook target; status 0 when there is no target.
    pub(crate) async fn deliver(&self, event: Value) -> anyhow::Result<Delivery> {
        let Some(target) = self.lock().webhook.clone() else {
            return Ok(Delivery { event, status: 0 });
        };
        let signed = sign_event(&event, &target.secret);
        let response = self
            .http
            .post(&target.url)
            .header("Stripe-Signature", &signed.signature_header)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(
                reqwest::header::USER_AGENT,
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(signed.payload)
            .send()
            .await
            .with_context(|| format!("delivering {} to {}", signed.event_id, target.url))?;
        Ok(Delivery {
            event,
            status: response.status().as_u16(),
        })
    }
}
