//! What the person on call sees (issue 11): every long-running process serves `/metrics`;
//! every metric the alert rules and the dashboard name is exported by one of them, in
//! Prometheus' conventions; and the log lines of one order carry its `checkout_trace_id`
//! and the request id, with no colour codes in a log file.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use serde_json::Value;
use stripe_standin::{PaymentStatus, StandIn, StandInConfig, WebhookTarget};

use crate::helpers::*;

const REQUEST_ID: &str = "req-observability-1";

/// One process's `/metrics`: sample names, and the declared type of each family.
#[derive(Default)]
struct Scrape {
    samples: Vec<(String, String)>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                scrape.types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                scrape
                    .samples
                    .push((line[..end].to_owned(), line.to_owned()));
            }
        }
        scrape
    }

    fn names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|(n, _)| n.clone()).collect()
    }

    fn value(&self, line_prefix: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(_, l)| l.starts_with(line_prefix))
            .and_then(|(_, l)| l.rsplit(' ').next()?.parse().ok())
    }
}

/// The `h2s_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = vec![];
    let mut rest = expr;
    while let Some(at) = rest.find("h2s_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Every expression of the alert rules and of the dashboard's panels, with where it is.
fn rule_and_panel_expressions() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/monitoring/alerts.yaml")).unwrap(),
    )
    .unwrap();
    let mut exprs = vec![];
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push((
                format!("alert {}", rule["alert"].as_str().unwrap()),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/monitoring/grafana-dashboard.json"))
            .unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push((
                format!("panel {}", panel["title"]),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    exprs
}

async fn wait_for(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scrape(http: &reqwest::Client, base: &str) -> Scrape {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{base}/metrics");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    Scrape::parse(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_is_scraped_after_a_checkout_webhook_and_sweep_and_one_order_is_traced_by_one_id()
 {
    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_observe");
    let pool_db = db.clone();
    let stripe = StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in");
    let json_logs = [("LOG_JSON", "true")];
    let api = spawn_api_with(
        &[
            "--database-url",
            &db,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--create-database",
        ],
        &json_logs,
    )
    .await;
    stripe.set_webhook_target(WebhookTarget {
        url: format!("{}/api/stripe-webhook", api.base_url),
        secret: WEBHOOK_SECRET.into(),
    });
    let worker_metrics = format!("127.0.0.1:{}", free_port());
    let mut worker = spawn_worker_with(
        &[
            "--database-url",
            &db,
            "--stripe-secret-key",
            "sk_test_observe",
            "--stripe-api-base",
            &stripe.base_url(),
            "--create-database",
        ],
        &[
            ("LOG_JSON", "true"),
            ("WORKER_METRICS_BIND", &worker_metrics),
        ],
    )
    .await;
    let reconcile_metrics = format!("127.0.0.1:{}", free_port());
    let mut reconciler = Proc::spawn_with_env(
        "reconcile",
        env!("CARGO_BIN_EXE_reconcile"),
        &[
            "--database-url".into(),
            db.clone(),
            "--stripe-secret-key".into(),
            "sk_test_observe".into(),
            "--stripe-api-base".into(),
            stripe.base_url(),
            "--schedule".into(),
            "*/2 * * * * *".into(),
        ],
        &[("RECONCILE_METRICS_BIND", &reconcile_metrics)],
    );
    let http = reqwest::Client::new();

    // Checkout, with the caller's request id; one without gets a fresh id.
    let response = http
        .post(format!("{}/api/shop", api.base_url))
        .header("X-Request-Id", REQUEST_ID)
        .json(&checkout_body("observe@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], REQUEST_ID);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let order_id = body["order_id"].as_str().unwrap().to_owned();
    let trace_id = body["checkout_trace_id"].as_str().unwrap().to_owned();
    let session_id = body["pay"]["session_id"].as_str().unwrap().to_owned();
    let other = http
        .get(format!("{}/healthz", api.base_url))
        .send()
        .await
        .unwrap();
    let generated = other.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");

    // Webhook → paid (and one forged delivery, refused).
    let delivery = stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .expect("delivered");
    assert_eq!(delivery.status, 200);
    let forged = http
        .post(format!("{}/api/stripe-webhook", api.base_url))
        .header("content-type", "application/json")
        .header("Stripe-Signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // A scheduled sweep after the payment succeeds, and the paid order's tasks are done.
    let pool = pool(&pool_db).await;
    // An event endpoint (wanting no type, so nothing is sent to it): its per-endpoint
    // gauges, which the event feed's alert names, are exported.
    sqlx::query(
        "INSERT INTO h2s_event_endpoints (endpoint_id, url, event_types, secret)
         VALUES ($1, 'https://hooks.example.com/h2s', '{}', 'whsec_b2JzZXJ2ZQ==')",
    )
    .bind(uuid::Uuid::new_v4())
    .execute(&pool)
    .await
    .unwrap();
    let paid_at = chrono::Utc::now();
    wait_for("a successful sweep", Duration::from_secs(30), async || {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM h2s_sweep_reports WHERE succeeded AND finished_at > $1)",
        )
        .bind(paid_at)
        .fetch_one(&pool)
        .await
        .unwrap()
    })
    .await;
    wait_for("the outbox drained", Duration::from_secs(30), async || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM apalis.jobs WHERE status <> 'Done'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 0
    })
    .await;

    // Scrape every process.
    let scrapes = [
        ("api", scrape(&http, &api.base_url).await),
        (
            "worker",
            scrape(&http, &format!("http://{worker_metrics}")).await,
        ),
        (
            "reconcile",
            scrape(&http, &format!("http://{reconcile_metrics}")).await,
        ),
    ];
    let exported: BTreeSet<String> = scrapes.iter().flat_map(|(_, s)| s.names()).collect();
    let expressions = rule_and_panel_expressions();
    assert!(expressions.len() > 20, "{} expressions", expressions.len());
    let mut missing = vec![];
    for (place, expr) in &expressions {
        for name in metric_names(expr) {
            if !exported.contains(&name) {
                missing.push(format!("{place}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but exported by no process: {missing:#?}\nexported: {exported:#?}"
    );
    for (process, scrape) in &scrapes {
        for (family, kind) in &scrape.types {
            let samples: Vec<&String> = scrape
                .samples
                .iter()
                .filter(|(n, _)| n.starts_with(family.as_str()))
                .map(|(_, l)| l)
                .collect();
            match kind.as_str() {
                "counter" => assert!(
                    samples
                        .iter()
                        .all(|l| l.starts_with(&format!("{family}_total"))),
                    "{process}: counter {family} has a sample not ending in _total: {samples:?}"
                ),
                "histogram" if !samples.is_empty() => assert!(
                    samples
                        .iter()
                        .any(|l| l.starts_with(&format!("{family}_bucket"))
                            && l.contains("le=\"+Inf\"")),
                    "{process}: histogram {family} has no buckets: {samples:?}"
                ),
                _ => {}
            }
            assert!(family.starts_with("h2s_"), "{process}: {family}");
        }
    }
    let [(_, api_scrape), (_, worker_scrape), (_, reconcile_scrape)] = &scrapes;
    assert_eq!(
        api_scrape.value("h2s_checkouts_total{outcome=\"ready\"}"),
        Some(1.0)
    );
    assert_eq!(
        api_scrape.value("h2s_webhook_signature_failures_total"),
        Some(1.0)
    );
    assert!(
        worker_scrape
            .value("h2s_stripe_requests_total{endpoint=\"create_session\",status=\"200\"}")
            .is_some()
    );
    assert!(reconcile_scrape.value("h2s_reconcile_sweeps_total{outcome=\"ok\"}") >= Some(1.0));
    assert!(reconcile_scrape.value("h2s_reconcile_last_success_timestamp_seconds") > Some(0.0));
    for (_, scrape) in &scrapes {
        assert_eq!(scrape.value("h2s_invariant_violations"), Some(0.0));
        assert_eq!(scrape.value("h2s_database_up"), Some(1.0));
    }

    // The logs of that order.
    worker.terminate(Duration::from_secs(30));
    reconciler.terminate(Duration::from_secs(30));
    let mut api = api;
    api.proc.terminate(Duration::from_secs(10));
    for proc in [&api.proc, &worker, &reconciler] {
        let text = proc.log_text();
        assert!(
            !text.contains('\u{1b}'),
            "{}: ANSI escape in a log file",
            proc.log.display()
        );
    }
    let mut seen = BTreeMap::<&str, usize>::new();
    for (process, proc) in [("api", &api.proc), ("worker", &worker)] {
        for line in proc.log_text().lines() {
            let json: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{process}: not a JSON line ({e}): {line}"));
            if !line.contains(&order_id) {
                continue;
            }
            assert!(
                line.contains(&trace_id),
                "{process}: a line of the order without its checkout_trace_id: {line}"
            );
            let spans = json["spans"].to_string();
            let kind = if spans.contains("/api/shop") {
                "checkout request"
            } else if spans.contains("/api/stripe-webhook") {
                "webhook"
            } else if spans.contains("\"kind\":\"checkout\"") {
                "checkout task"
            } else {
                "other task"
            };
            match kind {
                "checkout request" | "checkout task" => assert!(
                    spans.contains(&format!("\"request_id\":\"{REQUEST_ID}\"")),
                    "{process}: a {kind} line without the request id: {line}"
                ),
                "webhook" => assert!(spans.contains("\"request_id\":\""), "{line}"),
                _ => {}
            }
            *seen.entry(kind).or_default() += 1;
        }
    }
    for kind in ["checkout request", "checkout task", "webhook"] {
        assert!(
            seen.get(kind) > Some(&0),
            "no {kind} line of the order: {seen:?}"
        );
    }
    crate::report!(
        "[faults/observability] {} rule and panel expressions, {} metric names exported by 3 processes; order lines by origin: {seen:?}",
        expressions.len(),
        exported.len()
    );
    drop_database(&db).await;
}
