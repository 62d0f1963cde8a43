//! The payments domain: what Stripe says about a Checkout Session, and later about its
//! money (refunds, disputes), applied to its order (README.md, "Architecture"):
//! [`handle_event`] records each Stripe event once and applies it through [`apply`] (sessions)
//! or [`money`] (refunds and disputes), both of which change statuses only through
//! [`event::apply_event`]; the reconciler's session retrievals call [`apply`] too.

pub mod apply;
mod error;
pub mod event;
pub mod handle_event;
pub mod hold;
mod hold_facts;
pub mod hold_steps;
mod ledger;
pub mod money;
pub mod refund_requests;

pub use apply::{Applied, apply_session};
pub use error::ApplyError;
pub use event::apply_event;
