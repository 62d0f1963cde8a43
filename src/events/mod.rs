//! The outbound event feed (issue 25): what happened to an order and its job, and the
//! endpoints it is delivered to.

pub mod address;
pub mod delivery;
