//! The order page's HTML: the timeline, the refund requests, and the forms of the operator's
//! actions (each POST carries the CSRF token and goes through a confirmation page).

use maud::{Markup, html};

use super::{
    pages::{csrf_field, layout},
    queries::{Entry, OrderRow},
};
use crate::{dispatch::JobStatus, refunds::list::RefundRequestRow, stored::Stored};

/// One order as the page shows it.
pub(super) struct Panel {
    pub order: OrderRow,
    pub entries: Vec<Entry>,
    pub job: Option<(uuid::Uuid, Stored<JobStatus>)>,
    pub refunds: Vec<RefundRequestRow>,
    /// The order's currency, for its amounts.
    pub currency: Option<String>,
}

pub(super) struct OrdersView<'a> {
    pub q: &'a str,
    pub notice: Option<&'a str>,
    pub found: &'a [Panel],
    pub csrf: &'a str,
}

pub(super) fn orders(v: OrdersView<'_>) -> Markup {
    layout(
        "Order timeline",
        html! {
            @if let Some(n) = v.notice { p.notice id="notice" { (n) } }
            @if v.found.is_empty() { p.bad { "No order with id or customer email " code { (v.q) } "." } }
            @for panel in v.found {
                (order_panel(panel, v.csrf))
            }
        },
    )
}

fn order_panel(p: &Panel, csrf: &str) -> Markup {
    let order = &p.order;
    html! {
        h2 { (order.order_id) " · " (order.status) }
        p { (order.customer_email) }
        @if order.status.known() == Some(crate::orders::OrderStatus::Authorized) {
            (hold(order, p.currency.as_deref()))
        }
        table.timeline {
            tr { th { "when" } th { "what" } th { "detail" } }
            @for e in &p.entries {
                tr { td { (super::format::when_precise(e.at)) } td { (e.what) } td { (e.detail) } }
            }
        }
        h3 { "Refund requests" }
        @if p.refunds.is_empty() { p { "None." } } @else {
            table id="refund-requests" {
                tr { th { "requested" } th { "amount" } th { "reason" } th { "status" } th { "Stripe" } }
                @for r in &p.refunds {
                    tr.refund-request {
                        td { (super::format::when(r.created_at)) }
                        td { (super::format::money(r.amount, p.currency.as_deref())) }
                        td { (r.reason) @if r.cancel_job { " (job cancelled)" } }
                        td.refund-status { (r.status) }
                        td { (r.stripe_refund_id.as_deref().unwrap_or("")) " " span.bad { (r.failure_reason.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
        (refund_form(&order.order_id.to_string(), csrf))
        @if let Some((job_id, status)) = &p.job { (job_forms(&job_id.to_string(), status.known(), csrf)) }
    }
}

/// A held payment: how much, until when, and what the operator does with it (the job's
/// completion captures it, its cancellation or a refund releases it).
fn hold(order: &OrderRow, currency: Option<&str>) -> Markup {
    let left = order
        .capture_before
        .map(|end| (end - chrono::Utc::now()).num_hours().max(0));
    html! {
        p id="hold" {
            "Payment held: " (super::format::money(order.amount_capturable.unwrap_or(0), currency))
            @if let (Some(end), Some(hours)) = (order.capture_before, left) {
                ", capture before " (super::format::when(end)) " (" (hours) " h left)"
            }
            ". Mark the job completed to capture it; cancel the visit (or refund) to release it."
        }
    }
}

fn refund_form(order_id: &str, csrf: &str) -> Markup {
    html! {
        form method="post" action={ "/admin/orders/" (order_id) "/refund" } {
            (csrf_field(csrf))
            // One key per rendering: a second click sends the same request, refused once made.
            input type="hidden" name="key" value=(uuid::Uuid::new_v4());
            label { "Amount in dollars (empty: all that remains) " input type="number" name="amount" id="refund-amount" min="0.01" step="0.01"; }
            " " label { "Reason " input type="text" name="reason" id="refund-reason" required; }
            " " label { input type="checkbox" name="cancel_job" id="refund-cancel-job" value="true"; " cancel the visit" }
            " " label { input type="checkbox" name="override_dispatched" id="refund-override" value="true"; " even if scheduled" }
            " " button type="submit" id="refund" { "Refund…" }
        }
    }
}

fn job_forms(job_id: &str, status: Option<JobStatus>, csrf: &str) -> Markup {
    let action = |name: &str| format!("/admin/jobs/{job_id}/{name}");
    html! {
        h3 { "Dispatch job " code { (job_id) } }
        @if status == Some(JobStatus::Ready) || status == Some(JobStatus::Scheduled) {
            form method="post" action=(action("schedule")) {
                (csrf_field(csrf))
                label { "From (UTC) " input type="datetime-local" name="window_start" required; }
                " " label { "to " input type="datetime-local" name="window_end" required; }
                " " label { "Technician " input type="text" name="technician" required; }
                " " button type="submit" id="job-schedule" { "Schedule…" }
            }
        }
        @if status == Some(JobStatus::Scheduled) {
            form method="post" action=(action("complete")) {
                (csrf_field(csrf)) button type="submit" id="job-complete" { "Mark completed…" }
            }
        }
        @if matches!(status, Some(JobStatus::AwaitingPayment | JobStatus::Ready | JobStatus::Scheduled)) {
            form method="post" action=(action("cancel")) {
                (csrf_field(csrf))
                label { "Reason " input type="text" name="reason" id="job-cancel-reason" required; }
                " " button type="submit" id="job-cancel" { "Cancel the visit…" }
            }
        }
    }
}

/// The confirmation step: what is about to happen, and the same form again with
/// `confirmed=yes`.
pub(super) fn confirm(
    title: &str,
    what: &str,
    action: &str,
    fields: &[(&str, String)],
    csrf: &str,
) -> Markup {
    layout(
        title,
        html! {
            p id="confirm-what" { (what) }
            form method="post" action=(action) {
                (csrf_field(csrf))
                @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
                input type="hidden" name="confirmed" value="yes";
                button type="submit" id="confirm" { "Confirm" }
            }
            p { a href="/admin" { "Back to the console (nothing done)" } }
        },
    )
}
