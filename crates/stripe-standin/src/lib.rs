#![forbid(unsafe_code)]
//! A local stand-in for Stripe's API (Checkout Sessions and events), for integration tests,
//! benchmarks and `api --dev`: Stripe cannot be reached from here. Answers are built from
//! Stripe's own sample objects (`fixtures/fixtures3.json`, [`samples`]), as Stripe sends
//! them; events are signed like Stripe's webhooks. A crate of its own so that production builds (`--no-default-features`) do not
//! contain it.
//!
//! ```ignore
//! let stripe = StandIn::spawn(StandInConfig::default()).await?;
//! // point the client at stripe.base_url(); the webhook target at the API under test
//! stripe.set_webhook_target(WebhookTarget { url, secret: "whsec_test".into() });
//! let delivery = stripe.complete_session(&session_id, PaymentStatus::Paid).await?;
//! ```

mod change;
mod charge;
mod config;
mod create;
mod error;
mod expand;
mod fault_layer;
mod faults;
mod form;
mod handle;
mod hold_controls;
mod holds;
mod idempotency;
mod intent_book;
mod intent_routes;
mod intents;
mod lifecycle;
mod list_lag;
mod lists;
mod money;
mod objects;
mod params;
mod pay;
mod refund_book;
mod refund_handle;
mod refund_settle;
mod refunds;
mod routes;
pub mod samples;
mod state;
mod validate;
mod webhook;

#[cfg(test)]
mod hold_tests;
#[cfg(test)]
mod refund_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate_tests;

pub use change::PaymentStatus;
pub use config::{StandInConfig, WebhookTarget};
pub use faults::{Fault, Faults};
pub use handle::StandIn;
pub use intent_book::HOLD_SECONDS;
pub use objects::API_VERSION;
pub use refund_settle::FAILURE_REASON;
pub use webhook::{Delivery, SignedEvent, sign_payload};

/// Checks a request's form parameters (a `POST` body or a `GET` query string) as the stand-in
/// does before answering: `endpoint` is `"POST /v1/checkout/sessions"`, `"POST /v1/refunds"`,
/// `"GET /v1/events"`, ... The error is the body Stripe would answer with status 400.
pub fn check_request(endpoint: &str, form: &str) -> Result<(), serde_json::Value> {
    validate::check(endpoint, form)
        .map_err(|e| serde_json::from_str(&e.body()).expect("an error body is JSON"))
}
