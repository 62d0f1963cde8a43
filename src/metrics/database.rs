//! Gauges that describe the shared database rather than this process, read at scrape time:
//! the same answer from every replica, so alert rules take `max()` across instances.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};
use sqlx::PgPool;

use crate::outbox::QUEUE;

type F64Gauge = Gauge<f64, AtomicU64>;
type Labels = [(&'static str, String); 1];

use super::tasks::TASK_KINDS as KINDS;

#[derive(Default)]
pub struct Gauges {
    outbox_depth: Family<Labels, Gauge>,
    outbox_oldest_age: Family<Labels, F64Gauge>,
    outbox_dead: Family<Labels, Gauge>,
    invariant_violations: Gauge,
    orphan_orders: Gauge,
    operator_alerts: Gauge,
    last_success: F64Gauge,
    database_up: Gauge,
}

impl Gauges {
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register(
            "outbox_depth",
            "Outbox tasks waiting or running, by kind",
            self.outbox_depth.clone(),
        );
        r.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox task due and not yet done, by kind",
            self.outbox_oldest_age.clone(),
        );
        r.register(
            "outbox_dead_tasks",
            "Outbox tasks dead (killed, or retries exhausted) until revived, by kind",
            self.outbox_dead.clone(),
        );
        r.register(
            "invariant_violations",
            "Paid orders without exactly one linked dispatch job in status ready or later",
            self.invariant_violations.clone(),
        );
        r.register(
            "orphan_orders",
            "Paid orders with no dispatch job at all",
            self.orphan_orders.clone(),
        );
        r.register(
            "operator_alerts_open",
            "Operator alerts not yet resolved (a dispute opened, a refund of a dispatched job)",
            self.operator_alerts.clone(),
        );
        r.register(
            "reconcile_last_success_timestamp_seconds",
            "Unix time of the last sweep (not a dry run) without a failed repair; 0 if none",
            self.last_success.clone(),
        );
        r.register(
            "database_up",
            "1 when this scrape could read the database gauges, else 0",
            self.database_up.clone(),
        );
    }

    pub(crate) fn set_up(&self, up: i64) {
        self.database_up.set(up);
    }

    /// Reads every gauge from the database.
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let queue = outbox_by_kind(pool).await?;
        for kind in KINDS {
            let row = queue.iter().find(|r| r.kind == kind);
            let label = [("kind", kind.to_owned())];
            self.outbox_depth
                .get_or_create(&label)
                .set(row.map_or(0, |r| r.depth));
            self.outbox_oldest_age
                .get_or_create(&label)
                .set(row.map_or(0.0, |r| r.oldest_age_s));
            self.outbox_dead
                .get_or_create(&label)
                .set(row.map_or(0, |r| r.dead));
        }
        self.invariant_violations
            .set(crate::invariant::count(pool).await?);
        let orphans: i64 = sqlx::query_scalar(
            r#"SELECT count(*) FROM h2s_orders WHERE status = 'paid' AND dispatch_job_id IS NULL"#,
        )
        .fetch_one(pool)
        .await?;
        self.orphan_orders.set(orphans);
        let alerts: i64 = sqlx::query_scalar(
            r#"SELECT count(*) FROM h2s_operator_alerts WHERE resolved_at IS NULL"#,
        )
        .fetch_one(pool)
        .await?;
        self.operator_alerts.set(alerts);
        let last: Option<f64> = sqlx::query_scalar(
            r#"
            SELECT EXTRACT(EPOCH FROM finished_at)::float8 FROM h2s_sweep_reports
            WHERE succeeded AND NOT dry_run
            ORDER BY finished_at DESC LIMIT 1
            "#,
        )
        .fetch_optional(pool)
        .await?;
        self.last_success.set(last.unwrap_or(0.0));
        Ok(())
    }
}

/// One outbox task kind's live and dead tasks (also shown by the operator console).
#[derive(sqlx::FromRow)]
pub struct KindRow {
    pub kind: String,
    pub depth: i64,
    pub oldest_age_s: f64,
    pub dead: i64,
}

/// Live and dead outbox tasks per kind. It reads only unfinished rows (`Done` ones are
/// skipped through apalis's status index), so it costs the queue's depth, not its history.
pub async fn outbox_by_kind(pool: &PgPool) -> Result<Vec<KindRow>, sqlx::Error> {
    sqlx::query_as(
        r#"
        WITH open AS (
            SELECT convert_from(job, 'UTF8')::jsonb ->> 'kind' AS kind, status, attempts,
                   max_attempts, run_at,
                   (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)) AS dead
            FROM apalis.jobs
            WHERE job_type = $1 AND status <> 'Done'
        )
        SELECT COALESCE(kind, 'unknown') AS kind,
               count(*) FILTER (WHERE NOT dead) AS depth,
               COALESCE(EXTRACT(EPOCH FROM now() - min(run_at)
                   FILTER (WHERE NOT dead AND status IN ('Pending', 'Failed') AND run_at <= now())
               )::float8, 0) AS oldest_age_s,
               count(*) FILTER (WHERE dead) AS dead
        FROM open
        GROUP BY 1
        "#,
    )
    .bind(QUEUE)
    .fetch_all(pool)
    .await
}
