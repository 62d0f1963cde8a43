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

mod report;
mod snapshot;

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    migrate::{Migrate, MigrateError, Migrator},
};

use snapshot::Snapshot;

/// Whether the transaction is committed or rolled back at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply for real (every start).
    Apply,
    /// Run everything, report, roll back (`api --migrate-check`).
    Check,
}

/// A migration applied (or, in a check, that would be).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub set: &'static str,
    pub version: i64,
    pub description: String,
}

/// A data change recorded by the adoption migrations in `h2s_adoption_log`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DataChange {
    pub action: String,
    pub table_name: String,
    pub row_count: i64,
    pub message: String,
    pub detail: serde_json::Value,
}

/// A constraint that is not valid yet: old rows break it (new rows must satisfy it).
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub table: String,
    pub constraint: String,
    pub reason: String,
}

/// What a migration run did (or, in a check, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrationReport {
    /// Rolled back: this was `--migrate-check`.
    pub rolled_back: bool,
    pub applied: Vec<Applied>,
    /// Schema objects added, dropped or changed: `+`/`-`/`~`, kind, name, definition.
    pub schema: Vec<String>,
    /// What the adoption migrations changed or found in the data.
    pub data: Vec<DataChange>,
    /// Constraints validated by this run (they were `NOT VALID`, and the data is now clean).
    pub validated: Vec<String>,
    /// Constraints still `NOT VALID`, with why.
    pub invalid: Vec<Invalid>,
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
    lock(tx).await.context("taking the migration lock")?;
    let before = Snapshot::take(tx).await?;
    let mut report = MigrationReport {
        rolled_back: mode == Mode::Check,
        ..MigrationReport::default()
    };
    // The two sets, in the order they apply: ours build on apalis's `apalis.jobs`.
    let queue = apalis_postgres::PostgresStorage::migrations();
    for (set, migrator) in [("queue", &queue), ("h2s", &crate::db::MIGRATOR)] {
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

/// The transaction-scoped advisory lock, on the key sqlx's migrator uses for this database.
async fn lock(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(sqlx_lock_id(&database))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// sqlx's `generate_lock_id` (sqlx-postgres `migrate.rs`): CRC-32 of the database name.
fn sqlx_lock_id(database: &str) -> i64 {
    0x3d32ad9e * i64::from(crc32(database.as_bytes()))
}

/// CRC-32 (IEEE, as zlib), bitwise: a few bytes per start do not need a table.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// sqlx's `Migrator::run_direct`, minus its session lock, inside `tx`.
async fn apply_pending(
    tx: &mut Transaction<'_, Postgres>,
    set: &'static str,
    migrator: &Migrator,
) -> Result<Vec<Applied>, MigrateError> {
    let conn: &mut PgConnection = tx;
    for schema in migrator.create_schemas.iter() {
        conn.create_schema_if_not_exists(schema).await?;
    }
    let table = &migrator.table_name;
    conn.ensure_migrations_table(table).await?;
    if let Some(version) = conn.dirty_version(table).await? {
        return Err(MigrateError::Dirty(version));
    }
    let applied: BTreeMap<i64, Vec<u8>> = conn
        .list_applied_migrations(table)
        .await?
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect();
    if !migrator.ignore_missing
        && let Some(&missing) = applied.keys().find(|v| !migrator.version_exists(**v))
    {
        return Err(MigrateError::VersionMissing(missing));
    }
    let mut done = Vec::new();
    for migration in migrator.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        match applied.get(&migration.version) {
            Some(checksum) if checksum.as_slice() != &*migration.checksum => {
                return Err(MigrateError::VersionMismatch(migration.version));
            }
            Some(_) => {}
            None if migration.no_tx => {
                // Cannot run inside the one transaction; none of ours or apalis's is like this.
                return Err(MigrateError::ExecuteMigration(
                    sqlx::Error::Protocol(format!(
                        "migration {} must run outside a transaction",
                        migration.version
                    )),
                    migration.version,
                ));
            }
            None => {
                conn.apply(table, migration).await?;
                done.push(Applied {
                    set,
                    version: migration.version,
                    description: migration.description.to_string(),
                });
            }
        }
    }
    Ok(done)
}

/// The story of a failed migration, with apalis's upgrade note where it applies.
fn explain(set: &str, e: MigrateError) -> anyhow::Error {
    match e {
        MigrateError::VersionMismatch(20220530084123) if set == "queue" => anyhow::anyhow!(
            "the queue's tables come from apalis-postgres before 1.0: upgrade them first \
             (https://github.com/apalis-dev/apalis-postgres#upgrading-to-10)"
        ),
        MigrateError::VersionMismatch(v) => anyhow::anyhow!(
            "{set} migration {v} was applied with other contents (a migration must never be \
             edited once applied; add a new one)"
        ),
        other => anyhow::Error::new(other).context(format!("applying the {set} migrations")),
    }
}

/// Validates, each in a savepoint, every `NOT VALID` constraint of this system's tables.
async fn validate_constraints(
    tx: &mut Transaction<'_, Postgres>,
    report: &mut MigrationReport,
) -> anyhow::Result<()> {
    let pending: Vec<(String, String, String)> = sqlx::query_as(
        r#"
        SELECT r.relname::text, k.conname::text,
               format('ALTER TABLE %s VALIDATE CONSTRAINT %I', k.conrelid::regclass, k.conname)
        FROM pg_constraint k
        JOIN pg_class r ON r.oid = k.conrelid
        WHERE NOT k.convalidated AND k.contype IN ('c', 'f')
          AND r.relname LIKE 'h2s\_%'
          AND r.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
        ORDER BY 1, 2
        "#,
    )
    .fetch_all(&mut **tx)
    .await
    .context("listing constraints not validated yet")?;
    if !pending.is_empty() {
        // A validation waits for no one for long (a manual VACUUM, say): it is tried again at
        // the next start, and the process starts meanwhile.
        sqlx::query("SET LOCAL lock_timeout = '5s'")
            .execute(&mut **tx)
            .await?;
    }
    for (table, constraint, statement) in pending {
        let mut savepoint = Connection::begin(&mut **tx).await?;
        match sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut *savepoint)
            .await
        {
            Ok(_) => {
                savepoint.commit().await?;
                report.validated.push(format!("{table}.{constraint}"));
            }
            Err(sqlx::Error::Database(e)) => {
                savepoint.rollback().await?;
                report.invalid.push(Invalid {
                    table,
                    constraint,
                    reason: e.message().to_owned(),
                });
            }
            Err(e) => return Err(e).context("validating a constraint"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{crc32, sqlx_lock_id};

    #[test]
    fn the_lock_key_is_computed_as_sqlx_does() {
        // The CRC-32 check value; the key's equality with sqlx's own lock is tested against
        // sqlx's migrator in tests/api/adopt.rs.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(sqlx_lock_id(""), 0);
        assert_eq!(sqlx_lock_id("a"), 0x3d32ad9e * 0xE8B7_BE43);
    }
}
