//! Issue 23: any API version is accepted. The events of `samples.rs` (Stripe's own sample
//! objects) are mutated the ways other API versions differ: (a) unknown fields added at every
//! level, (b) every field the system does not read (`stripe::fields::READ`) given an unknown
//! string, (c) every such field removed. Each variant must be applied exactly as the original
//! (the lifecycle table's outcome), answered 2xx, with no WARN line. First every variant in
//! full for every event type, then a property test over random subsets that shrinks to the
//! fewest mutations (the smallest failing object, printed).

use h2s_dispatch::stripe::fields::{READ, readme_table};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::log_capture::LogCapture;
use crate::samples::{ALL, Order, Scenario, run};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    AddUnknown,
    ReplaceUnread,
    RemoveUnread,
}

const VARIANTS: [Variant; 3] = [
    Variant::AddUnknown,
    Variant::ReplaceUnread,
    Variant::RemoveUnread,
];

/// The paths the system reads in an event about `object`: the envelope's and the object's.
fn read_paths(object: &str) -> Vec<Vec<String>> {
    let split = |prefix: &[&str], path: &str| {
        let mut p: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        p.extend(path.split('.').map(str::to_owned));
        p
    };
    let mut paths = Vec::new();
    for o in READ {
        if o.object == "event" {
            // `data.object` is read through the object's own fields below.
            paths.extend(
                o.read
                    .iter()
                    .filter(|p| **p != "data.object")
                    .map(|p| split(&[], p)),
            );
        } else if o.object == object {
            paths.extend(o.read.iter().map(|p| split(&["data", "object"], p)));
        }
    }
    paths
}

/// How a node relates to what is read.
#[derive(PartialEq)]
enum Node {
    /// A read field or inside one (`metadata` is read whole).
    Read,
    /// On the way to a read field.
    Ancestor,
    Unread,
}

fn node(path: &[String], read: &[Vec<String>]) -> Node {
    if read.iter().any(|r| path.starts_with(r)) {
        Node::Read
    } else if read.iter().any(|r| r.starts_with(path)) {
        Node::Ancestor
    } else {
        Node::Unread
    }
}

fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The places `variant` mutates, in document order: for (a) every object not read, for
/// (b) and (c) every unread field whose parent is on the way to a read one (whole subtrees).
fn candidates(
    v: &Value,
    path: &mut Vec<String>,
    read: &[Vec<String>],
    variant: Variant,
    out: &mut Vec<Vec<String>>,
) {
    let here = node(path, read);
    if variant == Variant::AddUnknown {
        if here == Node::Read {
            return;
        }
        if v.is_object() {
            out.push(path.clone());
        }
    } else if here == Node::Unread {
        out.push(path.clone());
        return;
    }
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (k.clone(), c)).collect(),
        Value::Array(a) if variant == Variant::AddUnknown => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        path.push(key);
        candidates(child, path, read, variant, out);
        path.pop();
    }
}

/// `event` with `variant` applied where `pick(i)` holds for the i-th candidate; how many.
fn mutate(
    event: &mut Value,
    object: &str,
    variant: Variant,
    pick: impl Fn(usize) -> bool,
    name: &str,
) -> usize {
    let read = read_paths(object);
    let mut places = Vec::new();
    candidates(event, &mut Vec::new(), &read, variant, &mut places);
    let mut done = 0;
    for (_, path) in places.iter().enumerate().filter(|(i, _)| pick(*i)) {
        done += 1;
        match variant {
            Variant::AddUnknown => {
                let target = event.pointer_mut(&pointer(path)).expect("a candidate");
                target[format!("x_unknown_{name}")] = json!({ "value": name, "list": [name] });
            }
            Variant::ReplaceUnread => {
                *event.pointer_mut(&pointer(path)).expect("a candidate") =
                    json!(format!("unknown_{name}"));
            }
            Variant::RemoveUnread => {
                let (key, parent) = path.split_last().expect("not the root");
                let parent = event.pointer_mut(&pointer(parent)).expect("its parent");
                parent.as_object_mut().expect("an object").remove(key);
            }
        }
    }
    done
}

/// One case: a fresh order, brought to the scenario's state, then the mutated event. `Err`
/// says what differed, and prints the event as delivered.
async fn check(
    app: &TestApp,
    logs: &LogCapture,
    scenario: Scenario,
    variant: Variant,
    pick: impl Fn(usize) -> bool,
    name: &str,
) -> Result<usize, String> {
    let order = Order::new(app).await;
    let (before, mut target) = scenario.events(&order);
    let mutated = mutate(&mut target, scenario.object(), variant, pick, name);
    logs.take();
    let seen = run(app, &order, &before, &target).await;
    let warnings = logs.take();
    if seen == scenario.expected_seen() && warnings.is_empty() {
        return Ok(mutated);
    }
    Err(format!(
        "{variant:?} of {scenario:?} ({mutated} places): saw {seen:?}, expected {:?}; warnings: {warnings:#?}\nthe event: {}",
        scenario.expected_seen(),
        serde_json::to_string_pretty(&target).unwrap()
    ))
}

#[tokio::test]
async fn every_event_type_is_applied_the_same_with_unknown_fields_everywhere_and_every_unread_field_replaced_or_removed()
 {
    let logs = LogCapture::start();
    let app = spawn_app().await;
    for scenario in ALL {
        for variant in VARIANTS {
            let mutated = check(
                &app,
                &logs,
                scenario,
                variant,
                |_| true,
                "from_a_later_version",
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                mutated >= 3,
                "{variant:?} of {scenario:?} mutated {mutated} places"
            );
        }
    }
    app.shutdown().await;
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64)
}

#[test]
fn any_subset_of_mutations_of_stripes_samples_is_applied_as_the_original_and_logs_no_warning() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let logs = LogCapture::start();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        proptest::sample::select(ALL.to_vec()),
        proptest::sample::select(VARIANTS.to_vec()),
        proptest::collection::vec(any::<bool>(), 160),
        "[a-z][a-z_]{0,11}",
    );
    let result = runner.run(&strategy, |(scenario, variant, picks, name)| {
        let pick = |i: usize| picks.get(i).copied().unwrap_or(false);
        runtime
            .block_on(check(&app, &logs, scenario, variant, pick, &name))
            .map(drop)
            .map_err(TestCaseError::fail)
    });
    runtime.block_on(app.shutdown());
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_stripe_reference_lists_the_fields_read_as_the_readers_read_them() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/reference/stripe-webhook.md"
    ))
    .unwrap();
    let start = "<!-- stripe-fields: generated from src/stripe/fields.rs -->\n";
    let table = page
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("<!-- /stripe-fields -->"))
        .map(|(table, _)| table)
        .expect("the page has the fields table between its markers");
    assert_eq!(
        table,
        readme_table(),
        "paste this table into docs/reference/stripe-webhook.md"
    );
}
