//! Applying one migration set's pending migrations, with sqlx's own checks.

use std::collections::BTreeMap;

use sqlx::{
    PgConnection, Postgres, Transaction,
    migrate::{Migrate, MigrateError, Migrator},
};

use super::report::Applied;

/// sqlx's `Migrator::run_direct`, minus its session lock, inside `tx`.
pub(crate) async fn apply_pending(
    tx: &mut Transaction<'_, Postgres>,
    set: &'static str,
    migrator: &Migrator,
) -> Result<Vec<Applied>, MigrateError> {
    let conn: &mut PgConnection = tx;
    let table = &migrator.table_name;
    let applied = applied_checksums(conn, migrator).await?;
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

/// The set's applied versions with their checksums, after sqlx's checks of the set's table:
/// no dirty version, none missing from the source.
async fn applied_checksums(
    conn: &mut PgConnection,
    migrator: &Migrator,
) -> Result<BTreeMap<i64, Vec<u8>>, MigrateError> {
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
    Ok(applied)
}

/// The story of a failed migration, with apalis's upgrade note where it applies.
pub(crate) fn explain(set: &str, e: MigrateError) -> anyhow::Error {
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
