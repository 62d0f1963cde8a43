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

use std::{collections::BTreeMap, fmt, time::Duration};

use anyhow::Context;
use serde::Serialize;
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    migrate::{Migrate, MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};

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

/// `check` on the database at `url`, over one connection of its own. It never creates the
/// database, and changes nothing in it.
pub async fn check_url(url: &str) -> anyhow::Result<MigrationReport> {
    let masked = crate::db::mask_url(url);
    let options: PgConnectOptions = url
        .parse()
        .with_context(|| format!("invalid database URL {masked}"))?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to the database at {masked}"))?;
    let report = check(&pool).await;
    pool.close().await;
    report
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

/// The schema as a map `kind name -> definition`, and how far the adoption log went.
struct Snapshot {
    objects: BTreeMap<String, String>,
    log_position: i64,
}

impl Snapshot {
    async fn take(tx: &mut Transaction<'_, Postgres>) -> anyhow::Result<Self> {
        let rows: Vec<(String, String)> = sqlx::query_as(SCHEMA_SQL)
            .fetch_all(&mut **tx)
            .await
            .context("reading the schema")?;
        let has_log: bool =
            sqlx::query_scalar("SELECT to_regclass('h2s_adoption_log') IS NOT NULL")
                .fetch_one(&mut **tx)
                .await?;
        let log_position = if has_log {
            sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM h2s_adoption_log")
                .fetch_one(&mut **tx)
                .await?
        } else {
            0
        };
        Ok(Snapshot {
            objects: rows.into_iter().collect(),
            log_position,
        })
    }

    /// What changed, one line each; a table that is new is one line with what it holds.
    fn diff(&self, after: &Snapshot) -> Vec<String> {
        let new_tables: BTreeMap<&str, ()> = after
            .objects
            .keys()
            .filter(|k| !self.objects.contains_key(*k))
            .filter_map(|k| k.strip_prefix("table "))
            .map(|t| (t, ()))
            .collect();
        // `kind schema.table.name` for the parts of a table.
        let table_of = |key: &str| -> Option<String> {
            let (kind, name) = key.split_once(' ')?;
            if !matches!(kind, "column" | "index" | "constraint" | "trigger") {
                return None;
            }
            let mut parts = name.splitn(3, '.');
            Some(format!("{}.{}", parts.next()?, parts.next()?))
        };
        let mut parts_of_new: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
        let mut lines = Vec::new();
        for (key, def) in &after.objects {
            match self.objects.get(key) {
                None => match table_of(key) {
                    Some(table) if new_tables.contains_key(table.as_str()) => {
                        let kind = key.split(' ').next().unwrap_or_default();
                        *parts_of_new
                            .entry(table)
                            .or_default()
                            .entry(kind)
                            .or_default() += 1;
                    }
                    _ if key.starts_with("table ") => {}
                    _ => lines.push(format!("+ {key}{}", suffix(def))),
                },
                Some(old) if old != def => lines.push(format!("~ {key}: {old} -> {def}")),
                Some(_) => {}
            }
        }
        for table in new_tables.keys() {
            let parts = parts_of_new
                .get(*table)
                .map(|kinds| {
                    kinds
                        .iter()
                        .map(|(kind, n)| match *kind {
                            "index" => format!("indexes: {n}"),
                            kind => format!("{kind}s: {n}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            lines.push(format!("+ table {table} ({parts})"));
        }
        for (key, def) in &self.objects {
            if !after.objects.contains_key(key) {
                lines.push(format!("- {key}{}", suffix(def)));
            }
        }
        lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
        lines
    }
}

fn suffix(def: &str) -> String {
    if def.is_empty() {
        String::new()
    } else {
        format!(": {def}")
    }
}

/// Extensions; tables, columns, indexes (other than constraints' own), constraints (with
/// `NOT VALID` where so), triggers and functions (not extensions' own) of the database's own
/// schemas.
const SCHEMA_SQL: &str = r#"
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_%'
)
SELECT 'extension ' || extname, extversion FROM pg_extension
UNION ALL
SELECT 'table ' || ns.nspname || '.' || c.relname, ''
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
UNION ALL
SELECT 'column ' || ns.nspname || '.' || c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index ' || ns.nspname || '.' || t.relname || '.' || c.relname, pg_get_indexdef(c.oid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN ns ON ns.oid = c.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.contype IN ('p', 'u', 'x'))
UNION ALL
SELECT 'constraint ' || ns.nspname || '.' || r.relname || '.' || k.conname,
       pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class r ON r.oid = k.conrelid
JOIN ns ON ns.oid = r.relnamespace
UNION ALL
SELECT 'trigger ' || ns.nspname || '.' || r.relname || '.' || t.tgname, ''
FROM pg_trigger t
JOIN pg_class r ON r.oid = t.tgrelid
JOIN ns ON ns.oid = r.relnamespace
WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function ' || ns.nspname || '.' || p.proname
       || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(p.prosrc)
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
-- An extension's own functions come and go with it.
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
"#;

impl MigrationReport {
    /// Logs what a start applied: versions and data changes at info, constraints left
    /// invalid at warn, schema changes at debug.
    pub fn log(&self) {
        if self.applied.is_empty() {
            tracing::debug!("migrations: none pending");
        } else {
            let versions: Vec<String> = self
                .applied
                .iter()
                .map(|a| format!("{} {}", a.set, a.version))
                .collect();
            tracing::info!(
                applied = self.applied.len(),
                schema_changes = self.schema.len(),
                data_changes = self.data.len(),
                versions = %versions.join(", "),
                "migrations applied in one transaction"
            );
        }
        for line in &self.schema {
            tracing::debug!("migration schema change: {line}");
        }
        for change in &self.data {
            tracing::info!(
                action = %change.action,
                table = %change.table_name,
                rows = change.row_count,
                detail = %shorten(&change.detail.to_string(), 1000),
                "adoption: {}",
                change.message
            );
        }
        for name in &self.validated {
            tracing::info!(constraint = %name, "constraint validated: the old data is clean now");
        }
        for invalid in &self.invalid {
            tracing::warn!(
                constraint = %format!("{}.{}", invalid.table, invalid.constraint),
                reason = %invalid.reason,
                "constraint left NOT VALID: old rows break it (new rows must satisfy it)"
            );
        }
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.rolled_back {
            "would apply"
        } else {
            "applied"
        };
        if self.applied.is_empty() {
            writeln!(f, "migrations: none pending")?;
        } else {
            writeln!(
                f,
                "migrations: {verb} {} in one transaction:",
                self.applied.len()
            )?;
            for a in &self.applied {
                writeln!(f, "  {:<5} {} {}", a.set, a.version, a.description)?;
            }
        }
        if !self.schema.is_empty() {
            writeln!(
                f,
                "schema ({} changes; + added, ~ changed, - dropped):",
                self.schema.len()
            )?;
            for line in &self.schema {
                writeln!(f, "  {line}")?;
            }
        }
        if !self.data.is_empty() {
            writeln!(f, "data (backfilled, merged, filled, kept as they are):")?;
            for change in &self.data {
                writeln!(
                    f,
                    "  [{}] {}: {}",
                    change.action, change.table_name, change.message
                )?;
                let detail = change.detail.to_string();
                if detail != "[]" {
                    writeln!(f, "      {}", shorten(&detail, 400))?;
                }
            }
        }
        if !self.validated.is_empty() {
            writeln!(f, "constraints validated (the data is clean):")?;
            for name in &self.validated {
                writeln!(f, "  {name}")?;
            }
        }
        if !self.invalid.is_empty() {
            writeln!(
                f,
                "constraints left NOT VALID (old rows kept as they are; new rows must satisfy \
                 them; validated at a later start once the data is clean):"
            )?;
            for i in &self.invalid {
                writeln!(f, "  {}.{}: {}", i.table, i.constraint, i.reason)?;
            }
        }
        if self.rolled_back {
            write!(f, "rolled back: this was a check, nothing was changed")
        } else {
            write!(f, "committed")
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
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
