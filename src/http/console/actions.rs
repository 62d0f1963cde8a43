//! The operator's actions from the console: refund an order, schedule, complete or cancel its
//! job. Each POST needs the session and its CSRF token; the first renders a confirmation page
//! repeating the form, the confirmed one acts, through the same functions as the admin API.

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::{
    operator::OperatorPost,
    order_markup::confirm,
    pages,
    respond::{failed, page},
};
use crate::payments::hold::HoldError;
use crate::{
    checkout::IdempotencyKey,
    dispatch::{
        JobEvent, Visit,
        actions::{self, ActionError},
    },
    http::state::AppState,
    orders::OrderId,
    refunds::{self, NewRefund, RawRefund, RefundError},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/orders/{order_id}/refund", post(refund))
        .route("/admin/jobs/{job_id}/{action}", post(job))
}

/// Every field of both forms, as text (a checkbox left unticked is absent); the CSRF token
/// is [`OperatorPost`]'s.
#[derive(Deserialize, Default)]
pub(super) struct ActionForm {
    confirmed: Option<String>,
    key: Option<String>,
    amount: Option<String>,
    reason: Option<String>,
    cancel_job: Option<String>,
    override_dispatched: Option<String>,
    window_start: Option<String>,
    window_end: Option<String>,
    technician: Option<String>,
}

impl ActionForm {
    fn confirmed(&self) -> bool {
        self.confirmed.as_deref() == Some("yes")
    }

    /// The fields to repeat on the confirmation page.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let all = [
            ("key", &self.key),
            ("amount", &self.amount),
            ("reason", &self.reason),
            ("cancel_job", &self.cancel_job),
            ("override_dispatched", &self.override_dispatched),
            ("window_start", &self.window_start),
            ("window_end", &self.window_end),
            ("technician", &self.technician),
        ];
        all.into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }

    fn refund(&self) -> Result<NewRefund, String> {
        let amount = match self.amount.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(cents(text).ok_or("amount: dollars and cents, as 12.50")?),
        };
        let raw = RawRefund {
            amount,
            reason: self.reason.clone(),
            cancel_job: Some(self.cancel_job.is_some()),
            override_dispatched: Some(self.override_dispatched.is_some()),
        };
        NewRefund::parse(raw).map_err(|(field, message)| format!("{field}: {message}"))
    }
}

/// `12`, `12.5` or `12.50` dollars, in cents.
fn cents(text: &str) -> Option<i64> {
    let (whole, fraction) = text
        .trim_start_matches('$')
        .split_once('.')
        .unwrap_or((text, ""));
    let whole = whole.trim_start_matches('$');
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(fraction)
}

fn refused(status: StatusCode, message: &str) -> Response {
    page(status, pages::refused(message))
}

async fn refund(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    OperatorPost { operator, form }: OperatorPost<ActionForm>,
) -> Response {
    let Some(order_id) = OrderId::parse(&order_id) else {
        return refused(StatusCode::NOT_FOUND, "No such order.");
    };
    let new = match form.refund() {
        Ok(new) => new,
        Err(message) => return refused(StatusCode::BAD_REQUEST, &message),
    };
    if !form.confirmed() {
        let what = format!(
            "Refund {} of order {order_id} ({}){}{}?",
            new.amount
                .map_or("all that remains".into(), |a| super::format::money(a, None)),
            new.reason,
            if new.cancel_job {
                ", cancelling its visit"
            } else {
                ""
            },
            if new.override_dispatched {
                ", even if scheduled"
            } else {
                ""
            },
        );
        let action = format!("/admin/orders/{order_id}/refund");
        return page(
            StatusCode::OK,
            confirm(
                "Confirm the refund",
                &what,
                &action,
                &form.fields(),
                &operator.csrf(),
            ),
        );
    }
    let key = form.key.as_deref().and_then(IdempotencyKey::parse);
    let asked = refunds::refund_or_release(&state.pool, &order_id, &new, key.as_ref()).await;
    refund_answer(&order_id, asked)
}

/// The page after a refund: back to the order with what was done, or why not.
fn refund_answer(order_id: &OrderId, asked: Result<refunds::Asked, RefundError>) -> Response {
    let notice = match asked {
        Ok(refunds::Asked::Requested(id)) => {
            tracing::info!(order_id = %order_id, refund_request_id = %id, "console: refund requested");
            "Refund+requested"
        }
        Ok(refunds::Asked::Releasing) => {
            tracing::info!(order_id = %order_id, "console: held payment released");
            "Hold+released+(nothing+was+taken)"
        }
        Err(RefundError::Database(e)) => return failed(e),
        Err(e) => return refused(StatusCode::CONFLICT, &e.to_string()),
    };
    Redirect::to(&format!("/admin/orders?q={order_id}&notice={notice}")).into_response()
}

impl ActionForm {
    /// The visit the schedule form describes: a window that ends after it starts, a
    /// technician.
    fn visit(&self) -> Option<Visit> {
        let technician = self
            .technician
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        let window_start = utc(self.window_start.as_deref())?;
        let window_end = utc(self.window_end.as_deref())?;
        (window_end > window_start && !technician.is_empty()).then(|| Visit {
            window_start,
            window_end,
            technician: technician.to_owned(),
        })
    }
}

/// A `datetime-local` field, read as UTC.
pub(super) fn utc(field: Option<&str>) -> Option<DateTime<Utc>> {
    let text = field?;
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
        .or_else(|| text.parse().ok())
}

/// Completing and cancelling go the way the admin API's do: a held payment is captured or
/// released with the move.
async fn act(
    state: &AppState,
    job_id: uuid::Uuid,
    event: JobEvent<'_>,
) -> Result<crate::dispatch::actions::JobView, HoldError> {
    match event {
        JobEvent::Complete => crate::payments::hold::complete(&state.pool, job_id, None).await,
        JobEvent::Cancel { reason } => {
            crate::payments::hold::cancel(&state.pool, job_id, reason).await
        }
        _ => actions::act(&state.pool, job_id, &event)
            .await
            .map_err(|e| match e {
                ActionError::NoSuchJob => HoldError::NoSuchJob,
                ActionError::Refused(r) => HoldError::Refused(r),
                ActionError::Database(d) => HoldError::Database(d),
            }),
    }
}

async fn job(
    State(state): State<AppState>,
    Path((job_id, action)): Path<(String, String)>,
    OperatorPost { operator, form }: OperatorPost<ActionForm>,
) -> Response {
    let Ok(job_id) = uuid::Uuid::parse_str(&job_id) else {
        return refused(StatusCode::NOT_FOUND, "No such job.");
    };
    let reason = form.reason.as_deref().map(str::trim).unwrap_or_default();
    let visit = form.visit();
    let event = match (action.as_str(), &visit) {
        ("schedule", Some(visit)) => JobEvent::Schedule(visit),
        ("complete", _) => JobEvent::Complete,
        ("cancel", _) if !reason.is_empty() => JobEvent::Cancel { reason },
        _ => {
            return refused(
                StatusCode::BAD_REQUEST,
                "Fill in the form (a window that ends after it starts, a technician, a reason).",
            );
        }
    };
    if !form.confirmed() {
        let what = format!("{action} job {job_id}?");
        let url = format!("/admin/jobs/{job_id}/{action}");
        return page(
            StatusCode::OK,
            confirm(
                "Confirm the job action",
                &what,
                &url,
                &form.fields(),
                &operator.csrf(),
            ),
        );
    }
    let done = act(&state, job_id, event).await;
    match done {
        Ok(job) => {
            tracing::info!(%job_id, action, "console: job action");
            Redirect::to(&format!(
                "/admin/orders?q={}&notice=Job+{action}+done",
                job.order_id
            ))
            .into_response()
        }
        Err(HoldError::Database(e)) => failed(e),
        Err(HoldError::NoSuchJob) => refused(StatusCode::NOT_FOUND, "No such job."),
        Err(e) => refused(StatusCode::CONFLICT, &e.to_string()),
    }
}
