//! A status as a row holds it: one this system knows, or the text an older system wrote.
//!
//! A database adopted from the old backend keeps statuses outside today's set (their CHECKs
//! stay `NOT VALID`, see `migrations/20261127000003_adopt_constraints.sql`). Reading such a
//! row must neither fail nor change what it shows, so a status column decodes into
//! [`Stored`]: the typed value when the text is known, the text itself otherwise. Either way
//! it displays and serialises as the stored text.

use std::fmt;

use serde::{Serialize, Serializer};
use sqlx::{Decode, Postgres, Type, postgres::PgValueRef};

/// A closed set of statuses with one text per value (`h2s_orders.status`,
/// `h2s_dispatch_jobs.status`).
pub trait StatusText: Copy + Sized {
    fn as_str(self) -> &'static str;
    fn parse(text: &str) -> Option<Self>;
}

/// A status column's value: known, or kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<S> {
    Known(S),
    /// Outside today's set (an older system's row): shown as it is, never acted upon.
    Other(String),
}

impl<S: StatusText> Stored<S> {
    /// The typed status, `None` for text this system does not know.
    pub fn known(&self) -> Option<S> {
        match self {
            Stored::Known(s) => Some(*s),
            Stored::Other(_) => None,
        }
    }

    /// The text as the row holds it.
    pub fn as_str(&self) -> &str {
        match self {
            Stored::Known(s) => s.as_str(),
            Stored::Other(text) => text,
        }
    }
}

impl<S: StatusText> From<&str> for Stored<S> {
    fn from(text: &str) -> Self {
        S::parse(text).map_or_else(|| Stored::Other(text.to_owned()), Stored::Known)
    }
}

impl<S: StatusText> fmt::Display for Stored<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: StatusText> Serialize for Stored<S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<S> Type<Postgres> for Stored<S> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r, S: StatusText> Decode<'r, Postgres> for Stored<S> {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <&str as Decode<Postgres>>::decode(value).map(Stored::from)
    }
}

#[cfg(test)]
mod tests {
    use super::Stored;
    use crate::{dispatch::JobStatus, orders::OrderStatus};

    #[test]
    fn a_known_status_is_typed_and_an_unknown_one_kept_as_written() {
        let paid: Stored<OrderStatus> = "paid".into();
        assert_eq!(paid, Stored::Known(OrderStatus::Paid));
        let old: Stored<JobStatus> = "paused".into();
        assert_eq!(old.known(), None);
        assert_eq!(old.to_string(), "paused");
        assert_eq!(serde_json::to_value(&old).unwrap(), "paused");
        assert_eq!(serde_json::to_value(&paid).unwrap(), "paid");
    }
}
