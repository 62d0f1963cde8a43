//! Keyset paging over orders: `(created_at, order_id)`, for the sweep's queries and the
//! invariant's.

use chrono::{DateTime, Utc};

use super::OrderId;

/// Where a paged query resumes: after this `(created_at, order_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub order_id: OrderId,
}

impl Cursor {
    /// Before every row (Postgres and chrono both represent year 1).
    pub fn start() -> Self {
        Cursor {
            created_at: "0001-01-01T00:00:00Z".parse().expect("a valid timestamp"),
            order_id: OrderId::parse("0").expect("a valid id"),
        }
    }
}
