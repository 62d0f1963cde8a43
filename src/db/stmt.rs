//! One SQL statement and its arguments, built once and then run or explained: what runs is
//! exactly what `EXPLAIN` shows (the reconciler's plans, the outbox's housekeeping).

use serde_json::Value;
use sqlx::{Arguments, AssertSqlSafe, PgPool, Postgres, postgres::PgArguments};

/// One statement and its arguments.
pub struct Stmt {
    pub name: &'static str,
    pub sql: &'static str,
    pub args: PgArguments,
}

impl Stmt {
    pub fn new(name: &'static str, sql: &'static str) -> Self {
        Stmt {
            name,
            sql,
            args: PgArguments::default(),
        }
    }

    pub fn bind<'t, T>(mut self, value: T) -> Self
    where
        T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
    {
        self.args.add(value).expect("statement arguments encode");
        self
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
