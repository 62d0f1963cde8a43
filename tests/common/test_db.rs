//! The one test-database helper, shared by `tests/api`, `tests/faults`, `tests/lifecycle` and
//! the library's own outbox tests (each includes this file with `#[path]`).
//!
//! A [`TestDatabase`] is a fresh database named `t_<uuid>` on the server `TEST_DATABASE_URL`
//! names (default: the local Postgres). Dropped when the test passes; kept, with its name
//! printed, when the test fails, so that it can be looked at. `TEST_LOG=1` turns the system's
//! logs on for the test ([`init_logging`]).

#![allow(dead_code)]

use sqlx::{PgPool, postgres::PgPoolOptions};

/// The server the tests use: `TEST_DATABASE_URL` (a server URL, no database), else the local
/// Postgres.
pub fn server() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_owned()
}

/// Logs to the test's output when `TEST_LOG` is set (`RUST_LOG` filters; default debug for
/// this crate); silent otherwise. Idempotent.
pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "h2s_dispatch=debug,apalis=info,apalis_postgres=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A fresh database of the test's own; see the module doc for its lifetime.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    /// Dropped with the value when the test passes; `false`: left to its owner.
    drop_on_success: bool,
}

impl TestDatabase {
    /// A fresh database with the system's migrations applied, `max_connections` in its pool.
    pub async fn migrated(max_connections: u32) -> TestDatabase {
        init_logging();
        let name = fresh_name();
        let url = format!("{}/{name}", server());
        let pool = h2s_dispatch::db::connect_and_migrate(&url, max_connections)
            .await
            .expect("a fresh test database");
        TestDatabase::owning(name, url, pool)
    }

    /// A fresh database with nothing in it, not migrated: where a test builds an old schema.
    pub async fn empty(max_connections: u32) -> TestDatabase {
        TestDatabase::create(None, max_connections).await
    }

    /// A fresh copy of `template` (`CREATE DATABASE ... TEMPLATE`: a fraction of the cost of
    /// running the migrations).
    pub async fn copy_of(template: &str, max_connections: u32) -> TestDatabase {
        TestDatabase::create(Some(template), max_connections).await
    }

    async fn create(template: Option<&str>, max_connections: u32) -> TestDatabase {
        init_logging();
        let name = fresh_name();
        let admin = admin_pool().await;
        let template = template
            .map(|t| format!(r#" TEMPLATE "{t}""#))
            .unwrap_or_default();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            r#"CREATE DATABASE "{name}"{template}"#
        )))
        .execute(&admin)
        .await
        .expect("create a test database");
        admin.close().await;
        let url = format!("{}/{name}", server());
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&url)
            .await
            .expect("the new test database");
        TestDatabase::owning(name, url, pool)
    }

    fn owning(name: String, url: String, pool: PgPool) -> TestDatabase {
        TestDatabase {
            name,
            url,
            pool,
            drop_on_success: true,
        }
    }

    /// Keeps the database after the value is dropped (the caller drops it with [`drop_now`]).
    pub fn keep(mut self) -> (String, String, PgPool) {
        self.drop_on_success = false;
        (self.name.clone(), self.url.clone(), self.pool.clone())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.drop_on_success {
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "test failed: its database {} is kept for a look ({})",
                self.name, self.url
            );
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: the DROP runs on a
        // thread with a runtime of its own. `WITH (FORCE)`: the app's connections may be open.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the drop")
                .block_on(drop_now(&name));
        })
        .join();
    }
}

/// Drops the database `name` on the test server, if it exists.
pub async fn drop_now(name: &str) {
    let admin = admin_pool().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
    )))
    .execute(&admin)
    .await
    .expect("drop a test database");
    admin.close().await;
}

/// `t_<uuid>`: every test database is named so, so CI's cleanup finds one a killed run left.
pub fn fresh_name() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

async fn admin_pool() -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{}/postgres", server()))
        .await
        .expect("the test server's maintenance database")
}
