//! The outbound event feed (issue 25): what happened to an order and its job, written in the
//! transaction of the change that causes it ([`record`]), fanned out to the endpoints that
//! want it, and the endpoints themselves (managed through the admin API).
//!
//! Every change writes its event where it is made: a job's move in
//! `dispatch::transition::apply`, a job created for a paid order in `dispatch::ensure_job`,
//! an order's payment status in `orders::transition::apply`, a partial refund and a dispute
//! that moves no status in `payments::money`. A repeated webhook or a retried task changes
//! nothing, so it writes no event.

pub mod address;
mod body;
pub mod delivery;
pub mod endpoints;
pub mod kind;
mod record;

pub use kind::{CancelReason, DisputeOutcome, Event, EventType};
pub use record::{CHANNEL, EventId, WAKE, WAKE_WHEN, record};
