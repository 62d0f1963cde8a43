//! The payments domain: what Stripe says about a Checkout Session, applied to its order
//! (README.md, "Architecture"): [`handle_event`] records each Stripe event once and applies it
//! through [`apply`], which the reconciler's session retrievals call too.

pub mod apply;
pub mod handle_event;

pub use apply::{Applied, ApplyError, apply_event, apply_session};
