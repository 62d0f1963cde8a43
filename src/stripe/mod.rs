//! Stripe: the client the worker and reconciler call. The stand-in used by tests and `--dev`
//! is the `stripe-standin` crate (`crates/stripe-standin`).

pub mod client;
pub mod events;
pub mod money_facts;
pub mod outage;
pub mod session_facts;
pub mod sessions;

pub use client::{Blame, StripeCallError, StripeClientConfig, StripeHttp};
pub use money_facts::{MoneyChange, MoneyFacts};
pub use session_facts::SessionFacts;
