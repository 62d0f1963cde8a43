//! Stripe: the client the worker and reconciler call. The stand-in used by tests and `--dev`
//! is the `stripe-standin` crate (`crates/stripe-standin`).

pub mod client;
pub mod events;
pub mod fields;
pub mod mode;
pub mod money_facts;
pub mod outage;
pub mod payment_intents;
pub mod refunds;
pub mod session_facts;
pub mod sessions;
pub mod signature;
pub mod webhook_secrets;

pub use client::{Blame, StripeCallError, StripeClientConfig, StripeHttp};
pub use mode::StripeMode;
pub use money_facts::{HoldChange, MoneyChange, MoneyFacts};
pub use session_facts::{SessionFacts, SessionPaymentStatus, SessionStatus};
pub use webhook_secrets::WebhookSecrets;
