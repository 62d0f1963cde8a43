//! What `GET /metrics` answers, in every process: the gauges that describe the shared
//! database read fresh (outbox depth by kind, the invariant, open alerts, the last sweep,
//! the event endpoints), then every metric rendered. Here rather than in `metrics`, which
//! sits below the modules it would have to read and is told what to show.

use std::net::SocketAddr;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    events::delivery::{health, record::Outcome},
    metrics::{self, DatabaseFacts},
    outbox::{OutboxTask, depth},
};

/// Reads the database gauges, then renders everything. With the database unreachable the
/// process's own counters are still served (they matter most then), with
/// `h2s_database_up 0` and the database gauges as last read.
pub async fn render_fresh(pool: &PgPool) -> String {
    metrics::declare(OutboxTask::KINDS, &Outcome::ALL.map(Outcome::as_str));
    match read(pool).await {
        Ok((kinds, facts, endpoints)) => metrics::set_database(true, &kinds, &facts, endpoints),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database gauges could not be read");
            metrics::set_database(false, &[], &DatabaseFacts::default(), Vec::new());
        }
    }
    metrics::metrics().render()
}

type Kinds = Vec<(String, i64, f64, i64)>;
type Endpoints = Vec<(String, f64, i64)>;

async fn read(pool: &PgPool) -> Result<(Kinds, DatabaseFacts, Endpoints), sqlx::Error> {
    let rows = depth::outbox_by_kind(pool).await?;
    let kinds = OutboxTask::KINDS
        .iter()
        .map(|&kind| {
            let row = rows.iter().find(|r| r.kind == kind);
            (
                kind.to_owned(),
                row.map_or(0, |r| r.depth),
                row.map_or(0.0, |r| r.oldest_age_s),
                row.map_or(0, |r| r.dead),
            )
        })
        .collect();
    let facts = DatabaseFacts {
        invariant_violations: crate::invariant::count(pool).await?,
        orphan_orders: sqlx::query_scalar(
            r#"SELECT count(*) FROM h2s_orders WHERE status = 'paid' AND dispatch_job_id IS NULL"#,
        )
        .fetch_one(pool)
        .await?,
        operator_alerts: crate::alerts::open_count(pool).await?,
        last_sweep_success_s: sqlx::query_scalar::<_, Option<f64>>(
            r#"
            SELECT EXTRACT(EPOCH FROM finished_at)::float8 FROM h2s_sweep_reports
            WHERE succeeded AND NOT dry_run
            ORDER BY finished_at DESC LIMIT 1
            "#,
        )
        .fetch_optional(pool)
        .await?
        .flatten()
        .unwrap_or(0.0),
    };
    let endpoints = health::endpoints(pool)
        .await?
        .into_iter()
        .map(|e| {
            (
                e.endpoint_id.to_string(),
                e.oldest_undelivered_age_s,
                e.pending,
            )
        })
        .collect();
    Ok((kinds, facts, endpoints))
}

/// Serves this process's counters as Prometheus text on `GET /metrics` (for the worker and
/// the reconciler, whose work the API's `/metrics` cannot see), `GET /healthz` (up) and
/// `GET /readyz` (the database answers and takes writes: what a Kubernetes readiness probe
/// asks), until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    pool: PgPool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let readyz = |axum::extract::State(pool): axum::extract::State<PgPool>| async move {
        match crate::db::writable(&pool).await {
            Ok(true) => (axum::http::StatusCode::OK, "ok"),
            Ok(false) => (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database read-only",
            ),
            Err(_) => (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable",
            ),
        }
    };
    let metrics = |axum::extract::State(pool): axum::extract::State<PgPool>| async move {
        (
            [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
            render_fresh(&pool).await,
        )
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(pool);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics server failed")
}
