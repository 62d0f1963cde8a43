//! Orders (`h2s_orders`): statuses, and the queries on them (the id is [`crate::ids`]).

pub mod capture;
pub mod cart;
mod cursor;
pub mod hold;
mod inputs;
mod links;
pub mod repo;
mod status;
pub mod transition;

pub use crate::ids::OrderId;
pub use capture::CaptureMethod;
pub use cursor::Cursor;
pub use links::{SessionLink, link_job, store_session};
pub use status::OrderStatus;
