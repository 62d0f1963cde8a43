//! `POST /api/admin/dispatch-jobs/{job_id}/schedule|complete|cancel`: the dispatcher's
//! actions, each through the one job transition function (`dispatch::transition`).

use axum::{Json, extract::State, http::StatusCode};
use uuid::Uuid;

use super::{
    ApiError, AppState,
    admin::Admin,
    body::{JsonBody, OptionalJsonBody, Path},
    openapi::{
        operator::{CancelBody, CompleteBody, JobAnswer, ScheduleBody},
        schemas::{AdminErrors, BodyErrors, ErrorBody},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    dispatch::{
        JobEvent, Visit,
        actions::{self, ActionError, JobView},
    },
    payments::hold::{self, HoldError},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(schedule))
        .routes(routes!(complete))
        .routes(routes!(cancel))
}

/// Longest technician reference and cancel reason, in characters.
const TECHNICIAN_MAX: usize = 200;
const REASON_MAX: usize = 500;

/// Book (or rebook) the visit: a `ready` or `scheduled` job.
#[utoipa::path(post, path = "/api/admin/dispatch-jobs/{job_id}/schedule", tag = "admin", operation_id = "schedule_job",
    params(("job_id" = Uuid, Path)), request_body = ScheduleBody,
    security(("admin_token" = [])),
    responses((status = 200, body = JobAnswer),
        (status = 400, description = "invalid input (the field named; window_end not after window_start)", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "job_refused: not ready (on hold, unpaid, completed, cancelled)", body = ErrorBody),
        BodyErrors, AdminErrors))]
pub async fn schedule(
    _: Admin,
    State(state): State<AppState>,
    Path(job_id): Path<String>,
    body: Result<JsonBody<ScheduleBody>, ApiError>,
) -> Result<Json<JobAnswer>, ApiError> {
    let job_id = parse_job_id(&job_id)?;
    let JsonBody(body) = body?;
    let technician = text("technician", &body.technician, TECHNICIAN_MAX)?;
    if body.window_end <= body.window_start {
        return Err(ApiError::invalid(
            "window_end",
            "must be after window_start",
        ));
    }
    let visit = Visit {
        window_start: body.window_start,
        window_end: body.window_end,
        technician,
    };
    answer(actions::act(&state.pool, job_id, &JobEvent::Schedule(&visit)).await)
}

/// The visit is done: a `scheduled` job. For an order whose payment is held (`authorized`),
/// this captures it (`amount`, at most the hold; all of it when left out), once.
#[utoipa::path(post, path = "/api/admin/dispatch-jobs/{job_id}/complete", tag = "admin", operation_id = "complete_job",
    params(("job_id" = Uuid, Path)),
    request_body(content = Option<CompleteBody>, description = "optional: `amount` to capture of a held payment"),
    security(("admin_token" = [])),
    responses((status = 200, body = JobAnswer),
        (status = 400, description = "invalid input (the field named)", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "job_refused: not scheduled; capture_asked: completed and its payment captured (or being captured) already; amount_over_hold: more than the amount held; not_held: an amount for an order whose payment is not held. Nothing written", body = ErrorBody),
        BodyErrors, AdminErrors))]
pub async fn complete(
    _: Admin,
    State(state): State<AppState>,
    Path(job_id): Path<String>,
    body: Result<OptionalJsonBody<CompleteBody>, ApiError>,
) -> Result<Json<JobAnswer>, ApiError> {
    let job_id = parse_job_id(&job_id)?;
    let OptionalJsonBody(body) = body?;
    let amount = body.and_then(|b| b.amount);
    answer(
        hold::complete(&state.pool, job_id, amount)
            .await
            .map_err(ApiError::from),
    )
}

/// Call the visit off (the money is the refund route's): a job not completed nor on hold.
/// A held payment (`authorized`) is released with it.
#[utoipa::path(post, path = "/api/admin/dispatch-jobs/{job_id}/cancel", tag = "admin", operation_id = "cancel_job",
    params(("job_id" = Uuid, Path)), request_body = CancelBody,
    security(("admin_token" = [])),
    responses((status = 200, body = JobAnswer),
        (status = 400, description = "invalid input (the field named)", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "job_refused: completed, or on hold (the dispute decides)", body = ErrorBody),
        BodyErrors, AdminErrors))]
pub async fn cancel(
    _: Admin,
    State(state): State<AppState>,
    Path(job_id): Path<String>,
    body: Result<JsonBody<CancelBody>, ApiError>,
) -> Result<Json<JobAnswer>, ApiError> {
    let job_id = parse_job_id(&job_id)?;
    let JsonBody(body) = body?;
    let reason = text("reason", &body.reason, REASON_MAX)?;
    answer(
        hold::cancel(&state.pool, job_id, &reason)
            .await
            .map_err(ApiError::from),
    )
}

fn parse_job_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound)
}

/// A required text field: at most `max` characters as sent, something left once trimmed. A
/// NUL, which JSON allows and Postgres text does not, is kept as U+FFFD.
fn text(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let too_long = value.chars().count() > max;
    let value = value.trim();
    if value.is_empty() || too_long {
        return Err(ApiError::invalid(field, format!("1 to {max} characters")));
    }
    Ok(value.replace('\0', "\u{fffd}"))
}

fn answer<E: Into<ApiError>>(result: Result<JobView, E>) -> Result<Json<JobAnswer>, ApiError> {
    let job = result.map_err(Into::into)?;
    Ok(Json(JobAnswer {
        ok: true,
        job_id: job.job_id,
        order_id: job.order_id.to_string(),
        status: job.status.to_string(),
        window_start: job.window_start,
        window_end: job.window_end,
        technician: job.technician,
        cancel_reason: job.cancel_reason,
    }))
}

impl From<HoldError> for ApiError {
    fn from(e: HoldError) -> Self {
        match e {
            HoldError::NoSuchJob | HoldError::NoSuchOrder => ApiError::NotFound,
            HoldError::Database(d) => d.into(),
            HoldError::Apply(a) => ApiError::Internal(a.into()),
            HoldError::Refused(r) => ActionError::Refused(r).into(),
            // Refusals of a well-formed amount by the order's state: 409s naming the field.
            HoldError::AmountOverHold { .. } => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "amount_over_hold",
                message: e.to_string(),
                field: Some("amount"),
            },
            HoldError::NotHeld => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "not_held",
                message: e.to_string(),
                field: Some("amount"),
            },
            HoldError::JobScheduled => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "job_scheduled",
                message: e.to_string(),
                field: Some("override_dispatched"),
            },
            HoldError::CaptureAsked => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "capture_asked",
                message: e.to_string(),
                field: None,
            },
            HoldError::NotLapsed(_) => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "not_lapsed",
                message: e.to_string(),
                field: None,
            },
        }
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::NoSuchJob => ApiError::NotFound,
            ActionError::Database(d) => d.into(),
            ActionError::Refused(r) => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "job_refused",
                message: r.to_string(),
                field: None,
            },
        }
    }
}
