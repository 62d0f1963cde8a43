//! Orders (`h2s_orders`): statuses, and the queries on them (the id is [`crate::ids`]).

pub mod capture;
pub mod cart;
mod cursor;
pub mod hold;
mod inputs;
pub mod repo;
mod status;
pub mod transition;

pub use crate::ids::OrderId;
pub use capture::CaptureMethod;
pub use cursor::Cursor;
pub use status::OrderStatus;
