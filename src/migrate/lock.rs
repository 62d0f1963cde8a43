//! The migration lock: sqlx's own advisory-lock key for the database, held by the transaction.

use sqlx::{Postgres, Transaction};

/// The transaction-scoped advisory lock, on the key sqlx's migrator uses for this database.
pub(crate) async fn lock(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
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
