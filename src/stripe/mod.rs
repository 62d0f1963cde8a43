//! Stripe: the client the worker and reconciler call, and the stand-in used by tests and `--dev`.

pub mod client;
pub mod events;
pub mod outage;
pub mod session_facts;
pub mod sessions;
pub mod standin;

pub use client::{Blame, StripeCallError, StripeClientConfig, StripeHttp};
pub use session_facts::SessionFacts;
