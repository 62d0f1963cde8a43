//! Operator routes, behind `Authorization: Bearer $ADMIN_TOKEN`.

use axum::{
    Json,
    extract::{FromRequestParts, Path, Query, State},
    http::request::Parts,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    openapi::schemas::{AdminList, ErrorBody, Ok as OkBody, SweepReportBody},
};
use crate::{outbox, reconcile};

/// Proof that the request carried the admin token. No token configured: every request is 401.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.admin_token.as_ref().ok_or(ApiError::Unauthorized)?;
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        // Compare digests: equal length, so the comparison time says nothing of the token.
        let a = Sha256::digest(given.as_bytes());
        let b = Sha256::digest(expected.expose_secret().as_bytes());
        if a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
        {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(orders))
        .routes(routes!(dispatch_jobs))
        .routes(routes!(dead_tasks))
        .routes(routes!(retry_task))
        .routes(routes!(reconcile))
}

/// `{"ok": true, "orders": [...]}`: rows as the database holds them (an old backend's status
/// outside today's set included), so they stay JSON.
#[derive(Serialize)]
pub struct OrdersPage {
    ok: bool,
    orders: Vec<Value>,
}

/// `{"ok": true, "jobs": [...]}`, rows as for [`OrdersPage`].
#[derive(Serialize)]
pub struct JobsPage {
    ok: bool,
    jobs: Vec<Value>,
}

/// `{"ok": true, "tasks": [...]}`
#[derive(Serialize)]
pub struct DeadTasksPage {
    ok: bool,
    tasks: Vec<outbox::dead::DeadTask>,
}

/// `{"ok": true, "retried": "<task id>"}`
#[derive(Serialize)]
pub struct Retried {
    ok: bool,
    retried: String,
}

/// `{"ok": true, "report": {...}}`
#[derive(Serialize)]
pub struct SweepAnswer {
    ok: bool,
    report: reconcile::SweepReport,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

impl ListQuery {
    fn limit(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

/// Orders by status, newest first.
// Old rows as they are (a status outside today's set included).
#[utoipa::path(get, path = "/api/admin/orders", tag = "admin", operation_id = "list_orders",
    params(("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    security(("admin_token" = [])),
    responses((status = 200, body = AdminList), (status = 401, body = ErrorBody)))]
pub async fn orders(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<OrdersPage>, ApiError> {
    let rows = list_as_json(&state.pool, ORDERS_SQL, &q).await?;
    Ok(Json(OrdersPage {
        ok: true,
        orders: rows,
    }))
}

/// The dispatch queue: jobs by status with their recipient, oldest first.
// Jobs of the old backend are listed as they are (a status outside today's set, no recipient).
#[utoipa::path(get, path = "/api/admin/dispatch-jobs", tag = "admin", operation_id = "list_dispatch_jobs",
    params(("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    security(("admin_token" = [])),
    responses((status = 200, body = AdminList), (status = 401, body = ErrorBody)))]
pub async fn dispatch_jobs(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<JobsPage>, ApiError> {
    let rows = list_as_json(&state.pool, JOBS_SQL, &q).await?;
    Ok(Json(JobsPage {
        ok: true,
        jobs: rows,
    }))
}

/// Outbox tasks that exhausted their retries.
#[utoipa::path(get, path = "/api/admin/outbox/dead", tag = "admin", operation_id = "list_dead_tasks",
    security(("admin_token" = [])),
    responses((status = 200, body = AdminList), (status = 401, body = ErrorBody)))]
pub async fn dead_tasks(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DeadTasksPage>, ApiError> {
    let tasks = outbox::dead::list_dead(&state.pool, q.limit(), state.worker_max_attempts).await?;
    Ok(Json(DeadTasksPage { ok: true, tasks }))
}

/// Fresh attempts for one dead task.
#[utoipa::path(post, path = "/api/admin/outbox/{id}/retry", tag = "admin", operation_id = "retry_dead_task",
    params(("id" = String, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = OkBody), (status = 401, body = ErrorBody),
        (status = 404, description = "no dead task has this id", body = ErrorBody)))]
pub async fn retry_task(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Retried>, ApiError> {
    if outbox::dead::revive(&state.pool, &id).await? {
        Ok(Json(Retried {
            ok: true,
            retried: id,
        }))
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize)]
pub struct SweepQuery {
    #[serde(default)]
    dry_run: bool,
}

/// One reconcile sweep now (an api without a Stripe key skips the missed-webhook step).
// `POST /api/admin/reconcile?dry_run=true`: its report as JSON; the report's `skipped_steps`
// names what an api without a Stripe key skipped.
#[utoipa::path(post, path = "/api/admin/reconcile", tag = "admin", operation_id = "run_reconcile",
    params(("dry_run" = Option<bool>, Query)),
    security(("admin_token" = [])),
    responses((status = 200, body = SweepReportBody), (status = 401, body = ErrorBody)))]
pub async fn reconcile(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<SweepQuery>,
) -> Result<Json<SweepAnswer>, ApiError> {
    let options = reconcile::SweepOptions {
        dry_run: q.dry_run,
        ..reconcile::SweepOptions::default()
    };
    let report = match &state.stripe {
        Some(stripe) => reconcile::sweep(&state.pool, stripe, &options).await,
        None => reconcile::sweep_without_stripe(&state.pool, &options).await,
    }
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(SweepAnswer { ok: true, report }))
}

/// Orders, newest first, optionally of one status (`$1`), at most `$2`.
const ORDERS_SQL: &str = r#"
    SELECT to_jsonb(x) FROM (
        SELECT order_id, status, dispatch_job_id, stripe_session_id, customer_email,
               customer_phone, customer_phone_e164, amount_total, currency,
               failure_reason, created_at, paid_at
        FROM h2s_orders
        WHERE $1::text IS NULL OR status = $1
        ORDER BY created_at DESC
        LIMIT $2
    ) x
"#;

/// Dispatch jobs with their recipient, oldest first, optionally of one status, at most `$2`.
const JOBS_SQL: &str = r#"
    SELECT to_jsonb(x) FROM (
        SELECT j.job_id, j.order_id, j.status, j.service_address, r.email, r.name, r.phone,
               j.created_at, j.updated_at
        FROM h2s_dispatch_jobs j LEFT JOIN h2s_recipients r USING (recipient_id)
        WHERE $1::text IS NULL OR j.status = $1
        ORDER BY j.created_at
        LIMIT $2
    ) x
"#;

/// The rows of a list query as JSON objects, as stored: old statuses and columns included.
async fn list_as_json(
    pool: &PgPool,
    sql: &'static str,
    q: &ListQuery,
) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar(sql)
        .bind(q.status.as_deref())
        .bind(q.limit())
        .fetch_all(pool)
        .await
}
