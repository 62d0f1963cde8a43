//! The reports of past sweeps, kept in `h2s_sweep_reports` for the console and for the
//! `h2s_reconcile_last_success_timestamp_seconds` gauge (so a CronJob's `--once` sweeps count
//! too). Dry runs are not stored: a dry run writes nothing.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::report::SweepReport;

/// Reports older than this are deleted when a new one is stored.
const KEEP_DAYS: i32 = 30;

pub async fn record(pool: &PgPool, report: &SweepReport) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(report).expect("a report serialises");
    let succeeded = report.succeeded() && !report.interrupted;
    let mut tx = pool.begin().await?;
    sqlx::query(
        r#"INSERT INTO h2s_sweep_reports (dry_run, succeeded, report) VALUES ($1, $2, $3)"#,
    )
    .bind(report.dry_run)
    .bind(succeeded)
    .bind(json)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"DELETE FROM h2s_sweep_reports WHERE finished_at < now() - make_interval(days => $1)"#,
    )
    .bind(KEEP_DAYS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// One stored report.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct StoredReport {
    pub finished_at: DateTime<Utc>,
    pub succeeded: bool,
    pub report: serde_json::Value,
}

/// The newest `limit` reports, newest first.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<StoredReport>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT finished_at, succeeded, report FROM h2s_sweep_reports
        ORDER BY finished_at DESC LIMIT $1
        "#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
