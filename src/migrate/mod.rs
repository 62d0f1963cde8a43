//! Applying the migrations: every pending migration of both sets (apalis's queue, then ours)
//! in ONE transaction, so that a failure anywhere leaves the database exactly as it was — which
//! matters most when adopting a database of the old backend in place (see
//! `migrations/20261127000000_adopt_old_schema.sql`). `api --migrate-check` runs the very same
//! code and rolls back: Postgres DDL is transactional, so the rehearsal is the real migration.
//!
//! Why not sqlx's `Migrator::run`: it commits each migration on its own, so a failure half-way
//! leaves the first ones applied; and its session advisory lock stays held on the pooled
//! connection when a migration fails (it unlocks only on success). Here:
//! - the lock is `pg_advisory_xact_lock` on sqlx's own key for the database, taken first in the
//!   transaction and released by its end, whatever happens: two processes starting at once
//!   apply the migrations once (the second finds nothing pending), and an sqlx migrator
//!   elsewhere (sqlx-cli, an older build of this system) is excluded as well;
//! - each migration is applied by sqlx's own `Migrate::apply` (inside our transaction it runs
//!   in a savepoint) and recorded in `_sqlx_migrations` (or `apalis._sqlx_migrations`) with
//!   the row sqlx writes, so sqlx's migrator agrees later; the checks are sqlx's too (a dirty
//!   or missing version, a changed checksum stop the start);
//! - after the migrations, every constraint that adoption left `NOT VALID` is validated again
//!   (each in a savepoint): it becomes valid as soon as the old data is clean.
//!
//! sqlx applies any pending version, lower ones included, on a database where later ones are
//! applied (it checks applied versions against the source, not their order): that is how the
//! adoption migration, which sorts before the core one, reaches databases migrated before it.

mod constraints;
mod lock;
mod pending;
mod report;
mod snapshot;

use anyhow::Context;
use sqlx::{PgPool, Postgres, Transaction};

use constraints::validate_constraints;
use lock::lock;
use pending::{apply_pending, explain};
pub use report::{Applied, DataChange, Invalid, MigrationReport};
use snapshot::Snapshot;

/// Migrations of h2s-dispatch (the `public` schema, `_sqlx_migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Whether the transaction is committed or rolled back at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply for real (every start).
    Apply,
    /// Run everything, report, roll back (`api --migrate-check`).
    Check,
}

/// Applies every pending migration in one transaction (each process, at start).
pub async fn apply(pool: &PgPool) -> anyhow::Result<MigrationReport> {
    run(pool, Mode::Apply).await
}

/// Runs every pending migration in one transaction and rolls it back: what `apply` would do.
pub async fn check(pool: &PgPool) -> anyhow::Result<MigrationReport> {
    run(pool, Mode::Check).await
}

pub async fn run(pool: &PgPool, mode: Mode) -> anyhow::Result<MigrationReport> {
    let mut tx = pool
        .begin()
        .await
        .context("starting the migration transaction")?;
    let result = run_in(&mut tx, mode).await;
    // Rolled back explicitly on failure as well: a dropped transaction only queues its
    // ROLLBACK for the connection's next use, and meanwhile it would keep the locks its
    // migrations took.
    match (result, mode) {
        (Ok(report), Mode::Apply) => {
            tx.commit().await.context("committing the migrations")?;
            Ok(report)
        }
        (Ok(report), Mode::Check) => {
            tx.rollback().await.context("rolling back the check")?;
            Ok(report)
        }
        (Err(e), _) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back the failed migrations");
            }
            Err(e)
        }
    }
}

async fn run_in(tx: &mut Transaction<'_, Postgres>, mode: Mode) -> anyhow::Result<MigrationReport> {
    // Migrations wait for another replica's and may backfill big tables: the sessions'
    // `statement_timeout` (db::Bounds) is lifted for this transaction only.
    sqlx::raw_sql("SET LOCAL statement_timeout = 0")
        .execute(&mut **tx)
        .await
        .context("lifting the statement timeout for the migrations")?;
    lock(tx).await.context("taking the migration lock")?;
    let before = Snapshot::take(tx).await?;
    let mut report = MigrationReport {
        rolled_back: mode == Mode::Check,
        ..MigrationReport::default()
    };
    // The two sets, in the order they apply: ours build on apalis's `apalis.jobs`.
    let queue = apalis_postgres::PostgresStorage::migrations();
    for (set, migrator) in [("queue", &queue), ("h2s", &MIGRATOR)] {
        let applied = apply_pending(tx, set, migrator)
            .await
            .map_err(|e| explain(set, e))
            .context("nothing was changed: all pending migrations run in one transaction")?;
        report.applied.extend(applied);
    }
    validate_constraints(tx, &mut report).await?;
    let after = Snapshot::take(tx).await?;
    report.schema = before.diff(&after);
    report.data = sqlx::query_as(
        r#"
        SELECT action, table_name, row_count, message, detail
        FROM h2s_adoption_log
        WHERE id > $1 AND action <> 'add_column'
        ORDER BY id
        "#,
    )
    .bind(before.log_position)
    .fetch_all(&mut **tx)
    .await
    .context("reading the adoption log")?;
    Ok(report)
}
