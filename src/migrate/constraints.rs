//! Validating the constraints that adoption left `NOT VALID`, once the old data is clean.

use anyhow::Context;
use sqlx::{Connection, Postgres, Transaction};

use super::report::{Invalid, MigrationReport};

/// Validates, each in a savepoint, every `NOT VALID` constraint of this system's tables.
pub(crate) async fn validate_constraints(
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
