//! Operator refunds (issue 26): an operator asks to give an order's money back, in full or
//! in part, optionally calling its visit off. The request is a row (`h2s_refund_requests`)
//! written with its outbox task in one transaction ([`request`]), after the guards
//! ([`guards`]); the worker carries it out ([`task`]) with the request's id as Stripe's
//! idempotency key; the worker's answer and the refund's event settle it, whichever comes
//! first, through `payments::money` (the money recorded once, by the refund's id).

pub mod guards;
pub mod list;
mod new;
pub mod request;
pub mod task;

pub use guards::Refusal;
pub use new::{Invalid, NewRefund, REASON_MAX, RawRefund, RefundRequestId};
pub use request::{Asked, RefundError, refund_or_release, request};
