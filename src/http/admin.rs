//! Operator routes, behind `Authorization: Bearer $ADMIN_TOKEN`.

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::request::Parts,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    body::{Path, Query},
    openapi::{
        admin::{
            DeadTasksPage, JobsPage, LimitQuery, ListQuery, OrdersPage, Retried, SweepAnswer,
            SweepQuery,
        },
        schemas::{AdminErrors, ErrorBody},
    },
};
use crate::{outbox, reconcile};

/// Proof that the request carried the admin token. No token configured: every request is 401.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state
            .settings
            .http
            .admin_token
            .as_ref()
            .ok_or(ApiError::Unauthorized)?;
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

/// `limit` of a listing: 1 to 1000, default 100.
fn limit(given: Option<i64>) -> Result<i64, ApiError> {
    match given {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            "must be an integer from 1 to 1000",
        )),
    }
}

/// Orders by status, newest first.
// Old rows as they are (a status outside today's set included).
#[utoipa::path(get, path = "/api/admin/orders", tag = "admin", operation_id = "list_orders",
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = OrdersPage, links(
            ("status" = (operation_id = "order_status",
                parameters(("order_id" = "$response.body#/orders/0/order_id")))),
            ("refunds" = (operation_id = "list_refunds",
                parameters(("order_id" = "$response.body#/orders/0/order_id")))),
        )),
        (status = 400, description = "a query parameter out of its range or type", body = ErrorBody),
        AdminErrors,
    ))]
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
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = JobsPage, links(
            ("schedule" = (operation_id = "schedule_job",
                parameters(("job_id" = "$response.body#/jobs/0/job_id")))),
            ("cancel" = (operation_id = "cancel_job",
                parameters(("job_id" = "$response.body#/jobs/0/job_id")))),
        )),
        (status = 400, description = "a query parameter out of its range or type", body = ErrorBody),
        AdminErrors,
    ))]
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

/// Outbox tasks that exhausted their retries, oldest first.
#[utoipa::path(get, path = "/api/admin/outbox/dead", tag = "admin", operation_id = "list_dead_tasks",
    params(LimitQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DeadTasksPage, links(
            ("retry" = (operation_id = "retry_dead_task",
                parameters(("id" = "$response.body#/tasks/0/id")))),
        )),
        (status = 400, description = "a query parameter out of its range or type", body = ErrorBody),
        AdminErrors,
    ))]
pub async fn dead_tasks(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<LimitQuery>,
) -> Result<Json<DeadTasksPage>, ApiError> {
    let limit = limit(q.limit)?;
    let tasks =
        outbox::dead::list_dead(&state.pool, limit, state.settings.shared.max_attempts()).await?;
    Ok(Json(DeadTasksPage { ok: true, tasks }))
}

/// Fresh attempts for one dead task.
#[utoipa::path(post, path = "/api/admin/outbox/{id}/retry", tag = "admin", operation_id = "retry_dead_task",
    params(("id" = String, Path, description = "a dead task's id, as `list_dead_tasks` gives it")),
    security(("admin_token" = [])),
    responses((status = 200, body = Retried),
        (status = 404, description = "no dead task has this id", body = ErrorBody),
        AdminErrors))]
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

/// One reconcile sweep now (an api without a Stripe key skips the missed-webhook step).
// Its report as JSON; the report's `skipped_steps` names what an api without a Stripe key
// skipped.
#[utoipa::path(post, path = "/api/admin/reconcile", tag = "admin", operation_id = "run_reconcile",
    params(SweepQuery),
    security(("admin_token" = [])),
    responses((status = 200, body = SweepAnswer),
        (status = 400, description = "dry_run not true or false", body = ErrorBody),
        AdminErrors))]
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
) -> Result<Vec<Value>, ApiError> {
    Ok(sqlx::query_scalar(sql)
        .bind(q.status.as_deref())
        .bind(limit(q.limit)?)
        .fetch_all(pool)
        .await?)
}
