//! The sweep's queries, each with its arguments, in one place so that the sweep runs them and
//! [`explain`] shows their plans: the acceptance test asserts on those plans (index scans on a
//! large table), so what is tested is exactly what runs.
//!
//! Each query reads only the rows its repair may touch, through a partial index, in batches
//! (`LIMIT`) and with a keyset cursor `(created_at, order_id)` so that a row that fails to
//! repair is not read again within the same sweep. Ages are compared with the database's
//! `now()`, never this process's clock.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Arguments, AssertSqlSafe, PgPool, Postgres, postgres::PgArguments};

use super::SweepOptions;
use crate::{
    orders::OrderId,
    outbox::{OutboxTask, QUEUE},
};

/// Where a paged query resumes: after this `(created_at, order_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub order_id: OrderId,
}

impl Cursor {
    /// Before every row (Postgres and chrono both represent year 1).
    pub fn start() -> Self {
        Cursor {
            created_at: "0001-01-01T00:00:00Z".parse().expect("a valid timestamp"),
            order_id: OrderId::parse("0").expect("a valid id"),
        }
    }
}

/// One statement and its arguments.
pub struct Stmt {
    pub name: &'static str,
    pub sql: &'static str,
    pub args: PgArguments,
}

impl Stmt {
    fn new(name: &'static str, sql: &'static str) -> Self {
        Stmt {
            name,
            sql,
            args: PgArguments::default(),
        }
    }

    fn bind<'t, T>(mut self, value: T) -> Self
    where
        T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
    {
        self.args.add(value).expect("sweep arguments encode");
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

fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

fn limit(options: &SweepOptions) -> i64 {
    i64::from(options.batch_size.max(1))
}

/// (a) Paid orders that break the invariant: the one named query,
/// [`crate::invariant::VIOLATIONS_SQL`] (indexes `h2s_orders_paid_unlinked` and
/// `h2s_dispatch_jobs_not_ready`).
pub fn invariant_violations(after: &Cursor, options: &SweepOptions) -> Stmt {
    Stmt::new("invariant_violations", crate::invariant::VIOLATIONS_SQL)
        .bind(after.created_at)
        .bind(after.order_id.clone())
        .bind(limit(options))
}

/// (b) `pending_payment` orders whose session passed its `expires_at` (by `expiry_grace`)
/// with no terminal event seen, and not retrieved before: one retrieval per order, ever
/// (indexes `h2s_orders_session_past_expiry`, and `h2s_orders_session_expiry_unknown` for
/// sessions stored without an expiry by older systems: Stripe's last at most 24 h).
pub fn sessions_past_expiry(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "sessions_past_expiry",
        r#"
        (SELECT order_id, stripe_session_id
         FROM h2s_orders
         WHERE status = 'pending_payment' AND stripe_session_checked_at IS NULL
           AND stripe_session_id IS NOT NULL AND stripe_session_expires_at IS NOT NULL
           AND stripe_session_expires_at < now() - make_interval(secs => $1)
         ORDER BY stripe_session_expires_at
         LIMIT $2)
        UNION ALL
        (SELECT order_id, stripe_session_id
         FROM h2s_orders
         WHERE status = 'pending_payment' AND stripe_session_checked_at IS NULL
           AND stripe_session_id IS NOT NULL AND stripe_session_expires_at IS NULL
           AND created_at < now() - make_interval(secs => $1) - interval '24 hours'
         ORDER BY created_at
         LIMIT $2)
        "#,
    )
    .bind(secs(options.expiry_grace))
    .bind(limit(options))
}

/// (b) The oldest unpaid order with a session: where a first catch-up starts reading events
/// (index `h2s_orders_unpaid`).
pub fn oldest_open_session() -> Stmt {
    Stmt::new(
        "oldest_open_session",
        r#"
        SELECT min(created_at)
        FROM h2s_orders
        WHERE status IN ('pending_payment', 'awaiting_payment')
          AND stripe_session_id IS NOT NULL
        "#,
    )
}

/// (d) Dead tasks of every kind whose backoff has passed, revived with fresh attempts: the
/// `n`-th revival of a task waits `revive_after × 2^n` after its last attempt (capped at
/// 2^10), so a task that keeps dying is retried ever more rarely, never forgotten (index
/// `h2s_outbox_dead`). `SKIP LOCKED`: a row some other session holds waits for the next sweep.
pub fn revive_dead(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "revive_dead",
        r#"
        WITH due AS (
            SELECT j.id
            FROM apalis.jobs j
            LEFT JOIN h2s_task_revivals r ON r.task_id = j.id
            WHERE j.job_type = $1
              AND (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
              AND COALESCE(j.done_at, j.run_at) < now()
                  - make_interval(secs => $2 * power(2::float8, LEAST(COALESCE(r.revivals, 0), 10)))
            ORDER BY COALESCE(j.done_at, j.run_at)
            LIMIT $3
            FOR UPDATE OF j SKIP LOCKED
        ),
        revived AS (
            UPDATE apalis.jobs j
            SET status = 'Pending', attempts = 0, run_at = now(),
                lock_by = NULL, lock_at = NULL, done_at = NULL
            FROM due WHERE j.id = due.id
            RETURNING j.id
        ),
        counted AS (
            INSERT INTO h2s_task_revivals (task_id, revivals, last_revived_at)
            SELECT id, 1, now() FROM revived
            ON CONFLICT (task_id) DO UPDATE
                SET revivals = h2s_task_revivals.revivals + 1, last_revived_at = now()
            RETURNING task_id
        )
        SELECT count(*) FROM counted
        "#,
    )
    .bind(QUEUE)
    .bind(secs(options.revive_after))
    .bind(limit(options))
}

/// (d) In a dry run: how many dead tasks a sweep would revive now.
pub fn count_revivable(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "count_revivable",
        r#"
        SELECT count(*)
        FROM apalis.jobs j
        LEFT JOIN h2s_task_revivals r ON r.task_id = j.id
        WHERE j.job_type = $1
          AND (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
          AND COALESCE(j.done_at, j.run_at) < now()
              - make_interval(secs => $2 * power(2::float8, LEAST(COALESCE(r.revivals, 0), 10)))
        "#,
    )
    .bind(QUEUE)
    .bind(secs(options.revive_after))
}

/// (b) Unpaid orders older than `stale_after` with a stored session (index `h2s_orders_unpaid`).
pub fn stale_unpaid(after: &Cursor, options: &SweepOptions) -> Stmt {
    Stmt::new(
        "stale_unpaid",
        r#"
        SELECT order_id, created_at, stripe_session_id, status
        FROM h2s_orders
        WHERE status IN ('pending_payment', 'awaiting_payment')
          AND stripe_session_id IS NOT NULL
          AND created_at < now() - make_interval(secs => $1)
          AND (created_at, order_id) > ($2, $3)
        ORDER BY created_at, order_id
        LIMIT $4
        "#,
    )
    .bind(secs(options.stale_after))
    .bind(after.created_at)
    .bind(after.order_id.clone())
    .bind(limit(options))
}

/// (c) Checkouts of this system (they carry a trace id) with no session, older than
/// `requeue_after` (index `h2s_orders_checkout_without_session`).
pub fn checkouts_without_session(after: &Cursor, options: &SweepOptions) -> Stmt {
    Stmt::new(
        "checkouts_without_session",
        r#"
        SELECT order_id, created_at, checkout_trace_id
        FROM h2s_orders
        WHERE status = 'pending_payment' AND stripe_session_id IS NULL
          AND checkout_trace_id IS NOT NULL
          AND created_at < now() - make_interval(secs => $1)
          AND (created_at, order_id) > ($2, $3)
        ORDER BY created_at, order_id
        LIMIT $4
        "#,
    )
    .bind(secs(options.requeue_after))
    .bind(after.created_at)
    .bind(after.order_id.clone())
    .bind(limit(options))
}

/// (c) Of these idempotency keys, those whose task is alive (or done): not to re-enqueue.
/// Served by apalis's unique `(job_type, idempotency_key)` index.
pub fn live_task_keys(keys: &[String]) -> Stmt {
    Stmt::new(
        "live_task_keys",
        r#"
        SELECT idempotency_key
        FROM apalis.jobs
        WHERE job_type = $1 AND idempotency_key = ANY($2)
          AND NOT (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
        "#,
    )
    .bind(QUEUE)
    .bind(keys.to_vec())
}

/// (e) One batch of finished tasks past the retention, deleted (index `h2s_outbox_done`).
/// `SKIP LOCKED`: a row some other session holds is left for the next sweep.
pub fn delete_finished(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "delete_finished",
        r#"
        DELETE FROM apalis.jobs
        WHERE id IN (
            SELECT id FROM apalis.jobs
            WHERE job_type = $1 AND status = 'Done'
              AND done_at < now() - make_interval(secs => $2)
            ORDER BY done_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        "#,
    )
    .bind(QUEUE)
    .bind(secs(options.retention))
    .bind(i64::from(options.delete_batch_size.max(1)))
}

/// (e) In a dry run: how many finished tasks the retention would delete.
pub fn count_finished(options: &SweepOptions) -> Stmt {
    Stmt::new(
        "count_finished",
        r#"
        SELECT count(*)
        FROM apalis.jobs
        WHERE job_type = $1 AND status = 'Done'
          AND done_at < now() - make_interval(secs => $2)
        "#,
    )
    .bind(QUEUE)
    .bind(secs(options.retention))
}

/// (d) Dead tasks: the very query `outbox::runtime::dead_tasks` runs (index `h2s_outbox_dead`),
/// here for [`explain`].
fn dead_tasks() -> Stmt {
    Stmt::new("dead_tasks", crate::outbox::runtime::DEAD_TASKS_SQL).bind(QUEUE)
}

/// The plan of every sweep query, as `(name, EXPLAIN (FORMAT JSON) output)`.
pub async fn explain(
    pool: &PgPool,
    options: &SweepOptions,
) -> Result<Vec<(&'static str, Value)>, sqlx::Error> {
    let start = Cursor::start();
    let statements = [
        invariant_violations(&start, options),
        stale_unpaid(&start, options),
        sessions_past_expiry(options),
        oldest_open_session(),
        checkouts_without_session(&start, options),
        live_task_keys(&[OutboxTask::Checkout {
            order_id: start.order_id.clone(),
            checkout_trace_id: uuid::Uuid::nil(),
            request_id: None,
        }
        .idempotency_key()]),
        dead_tasks(),
        count_revivable(options),
        count_finished(options),
        delete_finished(options),
    ];
    let mut plans = Vec::with_capacity(statements.len());
    for stmt in statements {
        let name = stmt.name;
        // EXPLAIN without ANALYZE does not run the DELETE.
        plans.push((name, stmt.explain(pool).await?));
    }
    Ok(plans)
}
