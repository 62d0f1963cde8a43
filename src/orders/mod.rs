//! Orders (`h2s_orders`): ids, statuses, and the queries on them.

mod id;
pub mod repo;
mod status;
pub mod transition;

pub use id::OrderId;
pub use status::OrderStatus;
