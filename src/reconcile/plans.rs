//! The plan of every sweep query, as the sweep runs it (same text, same arguments): the
//! acceptance test asserts on these plans (index scans on a large table), so what is tested is
//! exactly what runs.

use serde_json::Value;
use sqlx::PgPool;

use super::{
    event_catchup, orphans, queries::Cursor, requeue, session_checks, settings::SweepOptions, tidy,
};
use crate::outbox::OutboxTask;

/// The plan of every sweep query, as `(name, EXPLAIN (FORMAT JSON) output)`.
pub async fn explain(
    pool: &PgPool,
    options: &SweepOptions,
) -> Result<Vec<(&'static str, Value)>, sqlx::Error> {
    let start = Cursor::start();
    let statements = [
        orphans::invariant_violations(&start, options),
        session_checks::stale_unpaid(&start, options),
        session_checks::sessions_past_expiry(options),
        event_catchup::oldest_open_session(),
        requeue::checkouts_without_session(&start, options),
        requeue::live_task_keys(&[OutboxTask::Checkout {
            order_id: start.order_id.clone(),
            checkout_trace_id: uuid::Uuid::nil(),
            request_id: None,
            inputs: None,
        }
        .idempotency_key()]),
        tidy::dead_tasks(),
        tidy::count_revivable(options),
        tidy::count_finished(options),
        tidy::delete_finished(options),
    ];
    let mut plans = Vec::with_capacity(statements.len());
    for stmt in statements {
        let name = stmt.name;
        // EXPLAIN without ANALYZE does not run the DELETE.
        plans.push((name, stmt.explain(pool).await?));
    }
    Ok(plans)
}
