//! What the sweep's queries share: the statement type, which carries its arguments so that
//! the sweep runs exactly what `plans::explain` shows, and the keyset cursor. The queries
//! themselves sit in the step that runs them.
//!
//! Each query reads only the rows its repair may touch, through a partial index, in batches
//! (`LIMIT`) and with a keyset cursor `(created_at, order_id)` so that a row that fails to
//! repair is not read again within the same sweep. Ages are compared with the database's
//! `now()`, never this process's clock.

use serde_json::Value;
use sqlx::{Arguments, AssertSqlSafe, PgPool, Postgres, postgres::PgArguments};

use super::settings::SweepOptions;

pub use crate::orders::Cursor;

/// One statement and its arguments.
pub struct Stmt {
    pub name: &'static str,
    pub sql: &'static str,
    pub args: PgArguments,
}

impl Stmt {
    pub(super) fn new(name: &'static str, sql: &'static str) -> Self {
        Stmt {
            name,
            sql,
            args: PgArguments::default(),
        }
    }

    pub(super) fn bind<'t, T>(mut self, value: T) -> Self
    where
        T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
    {
        self.args.add(value).expect("sweep arguments encode");
        self
    }

    /// Binds the keyset page, the statement's last three parameters: rows after `after`, at
    /// most one batch.
    pub(super) fn page(self, after: &Cursor, options: &SweepOptions) -> Self {
        self.bind(after.created_at)
            .bind(after.order_id.clone())
            .bind(limit(options))
    }

    pub fn query_as<'q, O>(self) -> sqlx::query::QueryAs<'q, Postgres, O, PgArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        sqlx::query_as_with(self.sql, self.args)
    }

    pub fn query<'q>(self) -> sqlx::query::Query<'q, Postgres, PgArguments> {
        sqlx::query_with(self.sql, self.args)
    }

    /// `EXPLAIN (FORMAT JSON)` of the statement with its arguments: the plan as run.
    pub async fn explain(self, pool: &PgPool) -> Result<Value, sqlx::Error> {
        let sql = format!("EXPLAIN (FORMAT JSON) {}", self.sql);
        sqlx::query_scalar_with(AssertSqlSafe(sql), self.args)
            .fetch_one(pool)
            .await
    }
}

pub(super) fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

pub(super) fn limit(options: &SweepOptions) -> i64 {
    i64::from(options.batch_size.max(1))
}
