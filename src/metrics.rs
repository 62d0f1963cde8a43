//! Process metrics, rendered as Prometheus text by `GET /metrics`. Counters are labelled by a
//! small fixed set of values (outcomes, kinds, event types), never by ids.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Mutex, OnceLock},
    time::Duration,
};

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, String), u64>,
    /// name → (sum of seconds, count)
    summaries: BTreeMap<(&'static str, String), (f64, u64)>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Adds `by` to the counter `name{labels}`; `labels` is Prometheus label text like `outcome="ok"`.
pub fn count(name: &'static str, labels: String, by: u64) {
    let mut r = registry().lock().expect("metrics lock");
    *r.counters.entry((name, labels)).or_default() += by;
}

pub fn observe(name: &'static str, labels: String, value: Duration) {
    let mut r = registry().lock().expect("metrics lock");
    let e = r.summaries.entry((name, labels)).or_default();
    e.0 += value.as_secs_f64();
    e.1 += 1;
}

pub fn observe_stripe_call(call: &'static str, took: Duration, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    observe(
        "h2s_stripe_call_seconds",
        format!("call=\"{call}\",outcome=\"{outcome}\""),
        took,
    );
}

pub fn checkout(outcome: &'static str) {
    count("h2s_checkouts_total", format!("outcome=\"{outcome}\""), 1);
}

pub fn task_attempt(kind: &'static str, outcome: &'static str) {
    count(
        "h2s_outbox_task_attempts_total",
        format!("kind=\"{kind}\",outcome=\"{outcome}\""),
        1,
    );
}

pub fn webhook_event(event_type: &str, outcome: &'static str) {
    // Only Stripe's own type names reach here after signature checks; bound the label anyway.
    let t: String = event_type
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .take(64)
        .collect();
    count(
        "h2s_webhook_events_total",
        format!("type=\"{t}\",outcome=\"{outcome}\""),
        1,
    );
}

/// Renders the counters and summaries, plus `extra` gauge lines computed by the caller.
pub fn render(extra: &str) -> String {
    let r = registry().lock().expect("metrics lock");
    let mut out = String::new();
    let mut last = "";
    for ((name, labels), v) in &r.counters {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
    for ((name, labels), (sum, n)) in &r.summaries {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} summary");
            last = name;
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {n}");
    }
    out.push_str(extra);
    out
}
