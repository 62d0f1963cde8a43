//! The console's HTML (maud): plain server-rendered pages, no script.

use maud::{DOCTYPE, Markup, html};

use super::queries::Breach;
use crate::{
    alerts::OpenAlert,
    outbox::{dead::DeadTask, depth::KindRow},
    reconcile::history::StoredReport,
};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem;color:#222}\
    table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\
    th{background:#f3f3f3}.bad{color:#a00;font-weight:600}.ok{color:#070;font-weight:600}\
    form.inline{display:inline}button{cursor:pointer}pre{white-space:pre-wrap;margin:0;font-size:.85em}\
    nav{margin-bottom:1rem}.notice{background:#eef6ee;border:1px solid #9c9;padding:.5rem}";

pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · h2s-dispatch" }
                style { (STYLE) }
            }
            body {
                nav { a href="/admin" { "Console" } " · " a href="/admin/event-feed" { "Event feed" } " · "
                      form.inline method="get" action="/admin/orders" {
                          input type="search" name="q" placeholder="order id or email" aria-label="order id or email";
                          " " button type="submit" { "Find order" }
                      }
                      " · "
                      form.inline method="post" action="/admin/logout" {
                          button type="submit" { "Log out" }
                      } }
                h1 { (title) }
                (body)
            }
        }
    }
}

pub fn login(message: Option<&str>) -> Markup {
    layout(
        "Operator console: log in",
        html! {
            @if let Some(m) = message { p.bad id="login-error" { (m) } }
            form method="post" action="/admin/login" {
                label { "Admin token " input type="password" name="token" id="token" autocomplete="current-password"; }
                " " button type="submit" id="login" { "Log in" }
            }
        },
    )
}

pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

pub struct Dashboard<'a> {
    pub notice: Option<&'a str>,
    pub breaches: &'a [Breach],
    pub alerts: &'a [OpenAlert],
    pub dead: &'a [DeadTask],
    pub outbox: &'a [KindRow],
    pub sweeps: &'a [StoredReport],
    pub csrf: &'a str,
}

pub fn dashboard(d: Dashboard<'_>) -> Markup {
    layout(
        "Operator console",
        html! {
            @if let Some(n) = d.notice { p.notice id="notice" { (n) } }
            (breaches_section(d.breaches))
            (alerts_section(d.alerts))
            (outbox_section(d.outbox))
            (dead_section(d.dead, d.csrf))
            h2 { "Sweeps" }
            form method="post" action="/admin/sweep" {
                (csrf_field(d.csrf))
                input type="hidden" name="dry_run" value="true";
                button type="submit" id="sweep-dry-run" { "Run sweep now (dry run first)" }
            }
            (sweep_table(d.sweeps))
        },
    )
}

fn breaches_section(breaches: &[Breach]) -> Markup {
    html! {
        h2 { "Paid orders breaking the invariant" }
        @if breaches.is_empty() {
            p.ok id="breaches-none" { "None: every paid order has one ready dispatch job, linked both ways." }
        } @else {
            table id="breaches" {
                tr { th { "order" } th { "status" } th { "dispatch job" } th { "job status" } th { "created" } }
                @for b in breaches {
                    tr.breach {
                        td { a href={ "/admin/orders?q=" (b.order_id) } { (b.order_id) } }
                        td { (b.status) }
                        td { @match b.dispatch_job_id { Some(j) => (j), None => span.bad { "none" } } }
                        td { (b.job_status.as_ref().map_or("-", |s| s.as_str())) }
                        td { (super::format::when(b.created_at)) }
                    }
                }
            }
            p { "The sweep repairs them (Run sweep below)." }
        }
    }
}

fn alerts_section(alerts: &[OpenAlert]) -> Markup {
    html! {
        h2 { "Needs an operator" }
        @if alerts.is_empty() {
            p.ok id="alerts-none" { "Nothing: no open dispute, no refund of a job already dispatched." }
        } @else {
            table id="alerts" {
                tr { th { "order" } th { "why" } th { "what" } th { "since" } }
                @for a in alerts {
                    tr.alert {
                        td {
                            @if let Some(order_id) = &a.order_id {
                                a href={ "/admin/orders?q=" (order_id) } { (order_id) }
                            } @else if let Some(endpoint_id) = a.endpoint_id {
                                a href={ "/admin/event-feed#endpoint-" (endpoint_id) } { "Event endpoint " (endpoint_id) }
                            } @else {
                                "Stripe event " (a.event_id.as_deref().unwrap_or_default())
                            }
                        }
                        td.bad { (a.kind) }
                        td { (a.detail) }
                        td { (super::format::when(a.created_at)) }
                    }
                }
            }
        }
    }
}

fn outbox_section(outbox: &[KindRow]) -> Markup {
    html! {
        h2 { "Outbox" }
        table id="outbox" {
            tr { th { "kind" } th { "waiting or running" } th { "oldest waiting (s)" } th { "dead" } }
            @for k in outbox {
                tr { td { (k.kind) } td { (k.depth) } td { (format!("{:.0}", k.oldest_age_s)) }
                     td { @if k.dead > 0 { span.bad { (k.dead) } } @else { "0" } } }
            }
        }
    }
}

fn dead_section(dead: &[DeadTask], csrf: &str) -> Markup {
    html! {
        h2 { "Dead tasks" }
        @if dead.is_empty() {
            p.ok id="dead-none" { "None." }
        } @else {
            table id="dead" {
                tr { th { "task" } th { "kind and order" } th { "status" } th { "attempts" } th { "last result" } th {} }
                @for t in dead {
                    tr.dead-task {
                        td { code { (t.id) } }
                        td { (task_label(t)) }
                        td { (t.status) }
                        td { (t.attempts) " / " (t.max_attempts) }
                        td { (t.last_result.as_ref().map(super::format::task_result).unwrap_or_default()) }
                        td { form method="post" action={ "/admin/tasks/" (t.id) "/retry" } {
                            (csrf_field(csrf))
                            button type="submit" class="retry" { "Retry" }
                        } }
                    }
                }
            }
        }
    }
}

fn task_label(t: &DeadTask) -> String {
    let task = t.task.as_ref();
    let field = |name: &str| {
        task.and_then(|v| v[name].as_str())
            .unwrap_or("?")
            .to_owned()
    };
    format!("{} {}", field("kind"), field("order_id"))
}

fn sweep_table(sweeps: &[StoredReport]) -> Markup {
    html! {
        @if sweeps.is_empty() { p { "No sweep recorded yet." } } @else {
            table id="sweeps" {
                tr { th { "finished" } th { "result" } th { "report" } }
                @for s in sweeps {
                    tr { td { (super::format::when(s.finished_at)) }
                         td { @if s.succeeded { span.ok { "ok" } } @else { span.bad { "failed or interrupted" } } }
                         td { pre { (summary(&s.report)) } } }
                }
            }
        }
    }
}

/// The report's non-zero counts, one line.
pub fn summary(report: &serde_json::Value) -> String {
    let Some(map) = report.as_object() else {
        return report.to_string();
    };
    let mut parts: Vec<String> = map
        .iter()
        .filter(|(k, v)| {
            !matches!(
                k.as_str(),
                "failures" | "skipped" | "dry_run" | "interrupted"
            ) && v.as_u64().is_some_and(|n| n > 0)
        })
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    if let Some(skipped) = map.get("skipped_steps") {
        parts.push(format!("skipped steps: {skipped}"));
    }
    if parts.is_empty() {
        "nothing to repair".into()
    } else {
        parts.join(", ")
    }
}

pub fn sweep_result(report: &serde_json::Value, dry_run: bool, csrf: &str) -> Markup {
    let title = if dry_run {
        "Sweep: dry run (nothing changed)"
    } else {
        "Sweep done"
    };
    layout(
        title,
        html! {
            p id="sweep-summary" { (summary(report)) }
            pre id="sweep-report" { (serde_json::to_string_pretty(report).unwrap_or_default()) }
            @if dry_run {
                form method="post" action="/admin/sweep" {
                    (csrf_field(csrf))
                    input type="hidden" name="dry_run" value="false";
                    button type="submit" id="sweep-run" { "Run sweep now: repair" }
                }
            }
            p { a href="/admin" id="back" { "Back to the console" } }
        },
    )
}

pub fn refused(message: &str) -> Markup {
    layout(
        "Refused",
        html! { p.bad id="refused" { (message) } p { a href="/admin/login" { "Log in" } } },
    )
}
