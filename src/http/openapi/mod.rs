//! The OpenAPI description of the HTTP API (utoipa), served at `GET /openapi.json` and
//! committed as `docs/openapi.json` (a test keeps them equal). The storefront-facing routes
//! are described from their handlers and the response types they serialize; the request
//! body, which the handler reads leniently (`RawCheckout`, so that every request the old
//! backend sent keeps working), is described by its contract in [`schemas`].

pub mod feed;
pub mod operator;
pub mod schemas;

use axum::{Json, response::IntoResponse};
use utoipa::OpenApi;

use feed::*;
use operator::*;
use schemas::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "h2s-dispatch",
        description = "Checkout to dispatch: every paid order gets exactly one dispatch job. \
                       Errors have the shape {ok: false, error: {code, message, field}}.",
        version = "1"
    ),
    paths(
        super::shop::create_checkout,
        super::orders::status,
        super::webhook::receive,
        healthz,
        readyz,
        metrics,
        admin_orders,
        admin_dispatch_jobs,
        admin_dead_tasks,
        admin_retry_task,
        admin_reconcile,
        super::refunds::create,
        super::refunds::list,
        super::job_actions::schedule,
        super::job_actions::complete,
        super::job_actions::cancel,
        super::event_endpoints::create,
        super::event_endpoints::list,
        super::event_endpoints::update,
        super::event_endpoints::delete,
        super::event_endpoints::rotate_secret,
        super::event_replay::replay_one,
        super::event_replay::replay_since,
    ),
    components(schemas(
        CheckoutRequest,
        Customer,
        CartLine,
        CheckoutReady,
        CheckoutProcessing,
        CheckoutRefused,
        Pay,
        OrderStatusBody,
        WebhookAck,
        ErrorBody,
        ErrorDetail,
        Ok,
        AdminList,
        SweepReportBody,
        RefundBody,
        RefundAccepted,
        RefundRequestRow,
        RefundRequests,
        ScheduleBody,
        CancelBody,
        JobAnswer,
        EndpointBody,
        EndpointPatch,
        EndpointCreated,
        EndpointList,
        EndpointUpdated,
        EndpointView,
        SecretRotated,
        super::event_replay::ReplaySinceBody,
        super::event_replay::Replayed,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "storefront", description = "Checkout and order status"),
        (name = "stripe", description = "Stripe's webhook"),
        (name = "operations", description = "Probes and metrics"),
        (name = "admin", description = "Operator routes (Authorization: Bearer ADMIN_TOKEN)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The description as served and committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the description serialises");
    text.push('\n');
    text
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    let value: serde_json::Value =
        serde_json::from_str(&document()).expect("the description is JSON");
    Json(value)
}

// Routes whose handlers live elsewhere and whose answers are small or operator-facing are
// described here, so that the description stays in one place.

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Ok)))]
#[allow(dead_code)]
fn healthz() {}

/// The database answers and takes writes.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Ok),
    (status = 503, description = "database unreachable or read-only", body = ErrorBody),
))]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus (OpenMetrics) text; see the README's metrics table.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
))]
#[allow(dead_code)]
fn metrics() {}

/// Orders by status, newest first.
#[utoipa::path(get, path = "/api/admin/orders", tag = "admin",
    params(("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    security(("admin_token" = [])),
    responses((status = 200, body = AdminList), (status = 401, body = ErrorBody)))]
#[allow(dead_code)]
fn admin_orders() {}

/// The dispatch queue: jobs by status with their recipient, oldest first.
#[utoipa::path(get, path = "/api/admin/dispatch-jobs", tag = "admin",
    params(("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    security(("admin_token" = [])),
    responses((status = 200, body = AdminList), (status = 401, body = ErrorBody)))]
#[allow(dead_code)]
fn admin_dispatch_jobs() {}

/// Outbox tasks that exhausted their retries.
#[utoipa::path(get, path = "/api/admin/outbox/dead", tag = "admin",
    security(("admin_token" = [])),
    responses((status = 200, body = AdminList), (status = 401, body = ErrorBody)))]
#[allow(dead_code)]
fn admin_dead_tasks() {}

/// Fresh attempts for one dead task.
#[utoipa::path(post, path = "/api/admin/outbox/{id}/retry", tag = "admin",
    params(("id" = String, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = Ok), (status = 401, body = ErrorBody),
        (status = 404, description = "no dead task has this id", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_retry_task() {}

/// One reconcile sweep now (an api without a Stripe key skips the missed-webhook step).
#[utoipa::path(post, path = "/api/admin/reconcile", tag = "admin",
    params(("dry_run" = Option<bool>, Query)),
    security(("admin_token" = [])),
    responses((status = 200, body = SweepReportBody), (status = 401, body = ErrorBody)))]
#[allow(dead_code)]
fn admin_reconcile() {}
