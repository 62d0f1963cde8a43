//! The payments domain: what Stripe says about a Checkout Session, applied to its order
//! (README.md, "Architecture").

mod apply;

pub use apply::{Applied, ApplyError, SessionFacts, apply_event, apply_session};
