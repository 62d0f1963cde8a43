use axum::{extract::State, http::header, response::IntoResponse};
use std::fmt::Write as _;

use super::{ApiError, AppState};
use crate::outbox;

/// `GET /metrics`: Prometheus text. Counters of this process, plus gauges read from the
/// database (the same for every replica): outbox depth and oldest pending age, dead tasks,
/// paid orders still without a job (orphans), and paid orders breaking the invariant (no job,
/// a job not linked both ways, a job not `ready`; the reconciler repairs both).
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (depth, oldest) = outbox::admin::depth(&state.pool).await?;
    let dead = outbox::runtime::dead_tasks(&state.pool).await?;
    let orphans: i64 = sqlx::query_scalar(
        r#"SELECT count(*) FROM h2s_orders WHERE status = 'paid' AND dispatch_job_id IS NULL"#,
    )
    .fetch_one(&state.pool)
    .await?;
    let violations = crate::invariant::count(&state.pool).await?;
    let mut gauges = String::new();
    for (name, value) in [
        ("h2s_outbox_depth", depth as f64),
        ("h2s_outbox_oldest_pending_seconds", oldest),
        ("h2s_outbox_dead_tasks", dead.count as f64),
        ("h2s_orphan_orders", orphans as f64),
        ("h2s_invariant_violations", violations as f64),
    ] {
        let _ = writeln!(gauges, "# TYPE {name} gauge\n{name} {value}");
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&gauges),
    ))
}
