//! THE invariant: every `paid` order (and every `authorized` one: its money is held) has
//! exactly one dispatch job, linked both ways (the
//! order names it in `dispatch_job_id` and in `metadata_json.dispatch_job_id`), whose status
//! is `ready` or later (`scheduled`, `completed`), or `cancelled` by an operator (with a
//! reason: the visit was called off on purpose, issue 26).
//!
//! Held by one function, [`crate::dispatch::ensure_job`], which every path that pays an
//! order runs in the paying transaction (`payments::apply_event`), and which the sweep runs
//! for every row of the one query below. The schema keeps the rest: `UNIQUE (order_id)` on
//! jobs (never a second job), and a link may only name the order's own job (the composite
//! foreign key of `migrations/20261127000010_invariant.sql`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::orders::{Cursor, OrderId};

/// The orders that break the invariant, as `(order_id, created_at)`, paged by the keyset
/// `(created_at, order_id) > ($1, $2)`, `$3` at a time. Two halves, each read through its own
/// partial index in keyset order (each half is limited on its own, so the planner walks the
/// index rather than reading and sorting the table), so the query costs what it finds (plus
/// the jobs not yet ready), not the size of the tables:
/// - paid orders with no link, or whose metadata does not name the linked job
///   (`h2s_orders_paid_unlinked`);
/// - jobs `awaiting_payment`, `cancelled` (but not by an operator) or `on_hold` whose order
///   is paid (`h2s_dispatch_jobs_not_ready`).
pub const VIOLATIONS_SQL: &str = r#"
    SELECT order_id, created_at FROM (
        (SELECT o.order_id, o.created_at
         FROM h2s_orders o
         WHERE o.status IN ('paid', 'authorized')
           AND (o.dispatch_job_id::text = (o.metadata_json->>'dispatch_job_id')) IS NOT TRUE
           AND (o.created_at, o.order_id) > ($1, $2)
         ORDER BY o.created_at, o.order_id
         LIMIT $3)
        UNION
        (SELECT o.order_id, o.created_at
         FROM h2s_dispatch_jobs j
         JOIN h2s_orders o ON o.order_id = j.order_id
         WHERE j.status IN ('awaiting_payment', 'cancelled', 'on_hold')
           AND o.status IN ('paid', 'authorized')
           AND NOT (j.status = 'cancelled' AND j.cancel_reason IS NOT NULL)
           AND (o.created_at, o.order_id) > ($1, $2)
         ORDER BY o.created_at, o.order_id
         LIMIT $3)
    ) violations
    ORDER BY created_at, order_id
    LIMIT $3
    "#;

/// Rows per page when counting.
const COUNT_PAGE: i64 = 1_000;

/// How many orders break the invariant now (the `h2s_invariant_violations` gauge, and the
/// sweep's `invariant_violations_before`/`_after`): the same query, page by page, so that
/// counting costs what it finds too.
pub async fn count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut cursor = Cursor::start();
    let mut total = 0;
    loop {
        let page: Vec<(OrderId, DateTime<Utc>)> = sqlx::query_as(VIOLATIONS_SQL)
            .bind(cursor.created_at)
            .bind(&cursor.order_id)
            .bind(COUNT_PAGE)
            .fetch_all(pool)
            .await?;
        total += page.len() as i64;
        match page.last() {
            Some((order_id, created_at)) if page.len() as i64 == COUNT_PAGE => {
                cursor = Cursor {
                    created_at: *created_at,
                    order_id: order_id.clone(),
                };
            }
            _ => return Ok(total),
        }
    }
}
