//! Orders (`h2s_orders`): statuses, and the queries on them (the id is [`crate::ids`]).

pub mod cart;
mod cursor;
mod inputs;
pub mod repo;
mod status;
pub mod transition;

pub use crate::ids::OrderId;
pub use cursor::Cursor;
pub use status::OrderStatus;
