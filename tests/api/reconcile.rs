//! Integration tests of the reconcile layer: the sweep as a library call, the scheduled loop,
//! and the `reconcile` binary itself. Each test has its own database and Stripe stand-in.

use std::{sync::Arc, time::Duration};

use h2s_dispatch::{
    db,
    orders::OrderId,
    outbox::dead::dead_tasks,
    reconcile::{self, SweepOptions, SweepReport, settings::parse_schedule},
    stripe::{StripeClientConfig, StripeHttp},
};
use serde_json::Value;
use sqlx::PgPool;
use stripe_standin::{Faults, PaymentStatus, WebhookTarget};

use crate::helpers::{
    Options, TestApp, WEBHOOK_SECRET, checkout_body, fresh_database, spawn_app, spawn_app_with,
    wait_until,
};

// ---------------------------------------------------------------------------------------
// Arrange helpers
// ---------------------------------------------------------------------------------------

/// The sweep with no age thresholds, so that orders made a moment ago qualify.
fn options() -> SweepOptions {
    SweepOptions {
        stale_after: Duration::ZERO,
        requeue_after: Duration::ZERO,
        ..SweepOptions::default()
    }
}

fn stripe_client(app: &TestApp) -> StripeHttp {
    StripeHttp::new(StripeClientConfig {
        secret_key: "sk_test_reconcile".to_owned().into(),
        api_base: app.stripe.base_url(),
        timeout: Duration::from_secs(2),
        max_rps: None,
    })
    .expect("stripe client")
}

async fn sweep(app: &TestApp, options: &SweepOptions) -> SweepReport {
    reconcile::sweep(&app.pool, &stripe_client(app), options)
        .await
        .expect("the sweep runs")
}

fn no_worker() -> Options {
    Options {
        start_worker: false,
        ..Options::default()
    }
}

/// Rows as the old system wrote them: straight into `h2s_orders`, paid, no job, no recipient,
/// no outbox history. Five customers, each under two spellings of their email.
async fn insert_legacy_paid_orders(pool: &PgPool, n: i32) -> Vec<String> {
    sqlx::query_scalar(
        r#"
        INSERT INTO h2s_orders (order_id, status, customer_email, customer_name, metadata_json,
                                created_at)
        SELECT 'LEGACY-' || lpad(g::text, 5, '0'), 'paid',
               CASE WHEN g % 2 = 0 THEN 'Legacy' || (g % 5) || '@Example.COM'
                    ELSE 'legacy' || (g % 5) || '@example.com' END,
               'Legacy Customer',
               jsonb_build_object('service_address', g || ' Old Road'),
               now() - interval '30 days' + g * interval '1 minute'
        FROM generate_series(1, $1) AS g
        RETURNING order_id
        "#,
    )
    .bind(n)
    .fetch_all(pool)
    .await
    .expect("legacy rows")
}

/// Points the stand-in's webhooks at a port nobody listens on: a webhook never received.
fn silence_webhooks(app: &TestApp) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    app.stripe.set_webhook_target(WebhookTarget {
        url: format!("http://{closed}/api/stripe-webhook"),
        secret: WEBHOOK_SECRET.to_owned(),
    });
}

fn stripe_down(app: &TestApp) {
    app.stripe.set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    });
}

/// `(order_id, status)` of the order's job, its linked job's status, and jobs for the order.
async fn job_facts(pool: &PgPool, order_id: &str) -> (String, Option<String>, i64) {
    sqlx::query_as(
        r#"
        SELECT o.status,
               (SELECT j.status FROM h2s_dispatch_jobs j
                WHERE j.job_id = o.dispatch_job_id AND j.order_id = o.order_id),
               (SELECT count(*) FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id)
        FROM h2s_orders o WHERE o.order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
    .expect("order exists")
}

/// Every order paid, with exactly one job, linked, `ready`.
async fn assert_one_linked_ready_job_each(pool: &PgPool, orders: &[String]) {
    for order_id in orders {
        let (status, linked_job, jobs) = job_facts(pool, order_id).await;
        assert_eq!(status, "paid", "{order_id}");
        assert_eq!(jobs, 1, "{order_id} has exactly one job");
        assert_eq!(linked_job.as_deref(), Some("ready"), "{order_id} links it");
    }
}

/// Everything a sweep could change, as one comparable value.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    let mut all = Vec::new();
    for table in [
        "h2s_orders",
        "h2s_dispatch_jobs",
        "h2s_recipients",
        "apalis.jobs",
    ] {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM {table} t"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        all.push(rows.unwrap_or_default());
    }
    all
}

// ---------------------------------------------------------------------------------------
// (a) orphans
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fifty_legacy_paid_orders_get_one_linked_job_each_and_a_second_sweep_repairs_none() {
    let app = spawn_app_with(no_worker()).await;
    let orders = insert_legacy_paid_orders(&app.pool, 50).await;

    let first = sweep(&app, &options()).await;
    let second = sweep(&app, &options()).await;

    assert_eq!(first.orphans_repaired, 50, "{first:?}");
    assert_eq!(first.failed, 0, "{first:?}");
    assert!(!first.skipped && !first.dry_run);
    assert_eq!(second.orphans_repaired, 0, "{second:?}");
    assert_eq!(second.failed, 0);
    assert_one_linked_ready_job_each(&app.pool, &orders).await;
    assert_eq!(app.count("h2s_dispatch_jobs").await, 50);
    // Recipients resolved from the orders' emails, one per address whatever its case.
    assert_eq!(app.count("h2s_recipients").await, 5);
    app.shutdown().await;
}

#[tokio::test]
async fn a_dry_run_reports_the_same_fifty_and_changes_nothing() {
    let app = spawn_app_with(no_worker()).await;
    insert_legacy_paid_orders(&app.pool, 50).await;
    let before = snapshot(&app.pool).await;

    let report = sweep(
        &app,
        &SweepOptions {
            dry_run: true,
            ..options()
        },
    )
    .await;

    assert!(report.dry_run);
    assert_eq!(report.orphans_repaired, 50, "{report:?}");
    assert_eq!(report.failed, 0);
    assert_eq!(
        snapshot(&app.pool).await,
        before,
        "a dry run wrote something"
    );
    assert_eq!(app.count("h2s_dispatch_jobs").await, 0);
    // The real sweep still finds all fifty.
    assert_eq!(sweep(&app, &options()).await.orphans_repaired, 50);
    app.shutdown().await;
}

#[tokio::test]
async fn two_sweeps_started_at_once_make_one_job_per_order_and_their_counts_add_up_to_fifty() {
    let app = spawn_app_with(no_worker()).await;
    let orders = insert_legacy_paid_orders(&app.pool, 50).await;
    // Two "processes": separate pools, so separate connections and lock sessions.
    let pool_a = db::connect_and_migrate(&app.database_url, 4).await.unwrap();
    let pool_b = db::connect_and_migrate(&app.database_url, 4).await.unwrap();
    let stripe = stripe_client(&app);
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let run = |pool: PgPool| {
        let (stripe, start) = (stripe.clone(), start.clone());
        async move {
            start.wait().await;
            reconcile::sweep(&pool, &stripe, &options()).await.unwrap()
        }
    };

    let (a, b) = tokio::join!(run(pool_a), run(pool_b));

    assert_eq!(a.orphans_repaired + b.orphans_repaired, 50, "{a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0);
    assert_eq!(app.count("h2s_dispatch_jobs").await, 50);
    assert_one_linked_ready_job_each(&app.pool, &orders).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_sweep_running_while_the_webhook_and_the_worker_handle_the_same_orders_leaves_one_job_per_order()
 {
    let app = spawn_app().await;
    // Checkouts through the API (job awaiting payment, session stored): webhook and sweep (b)
    // both apply their payment. Sessions made elsewhere for orders we never saw: the webhook
    // creates the order paid and the worker its job, while sweep (a) repairs the same orphan.
    let mut sessions = Vec::new();
    let mut orders = Vec::new();
    for i in 0..6 {
        let (order_id, session_id) = app.checkout(&format!("race{i}@example.com")).await;
        orders.push(order_id);
        sessions.push(session_id);
    }
    for _ in 0..6 {
        let order_id = OrderId::generate().to_string();
        let email = format!("{}@walk-in.example", order_id.to_lowercase());
        sessions.push(app.create_session_at_stripe(&email, &order_id, &[]).await);
        orders.push(order_id);
    }
    let stripe = stripe_client(&app);
    let sweeping = Arc::new(std::sync::atomic::AtomicBool::new(true));

    let sweeper = {
        let (pool, sweeping) = (app.pool.clone(), sweeping.clone());
        tokio::spawn(async move {
            let mut reports = Vec::new();
            while sweeping.load(std::sync::atomic::Ordering::Relaxed) {
                reports.push(reconcile::sweep(&pool, &stripe, &options()).await.unwrap());
            }
            reports.push(reconcile::sweep(&pool, &stripe, &options()).await.unwrap());
            reports
        })
    };
    let deliveries = futures::future::join_all(
        sessions
            .iter()
            .map(|s| app.stripe.complete_session(s, PaymentStatus::Paid)),
    )
    .await;
    sweeping.store(false, std::sync::atomic::Ordering::Relaxed);
    let reports = sweeper.await.unwrap();

    for delivery in deliveries {
        assert_eq!(delivery.expect("delivered").status, 200);
    }
    assert!(reports.iter().all(|r| r.failed == 0), "{reports:?}");
    let pool = app.pool.clone();
    wait_until(
        "every order paid with a ready job",
        Duration::from_secs(20),
        || {
            let pool = pool.clone();
            async move {
                let done: i64 = sqlx::query_scalar(
                    r#"SELECT count(*) FROM h2s_orders o JOIN h2s_dispatch_jobs j
                   ON j.job_id = o.dispatch_job_id
                   WHERE o.status = 'paid' AND j.status = 'ready'"#,
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                done == 12
            }
        },
    )
    .await;
    assert_eq!(app.count("h2s_orders").await, 12);
    assert_eq!(app.count("h2s_dispatch_jobs").await, 12);
    assert_one_linked_ready_job_each(&app.pool, &orders).await;
    for order_id in &orders[..6] {
        assert_eq!(app.stripe.sessions_created_for(order_id), 1);
    }
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// (b) missed webhooks
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_missed_paid_webhook_is_applied_an_open_session_is_left_alone_and_an_expired_one_expires()
{
    let app = spawn_app().await;
    let (paid, paid_session) = app.checkout("paid@example.com").await;
    let (open, _) = app.checkout("open@example.com").await;
    let (expired, expired_session) = app.checkout("expired@example.com").await;
    silence_webhooks(&app);
    // The stand-in changes the sessions; the webhooks never reach us.
    let _ = app
        .stripe
        .complete_session(&paid_session, PaymentStatus::Paid)
        .await;
    let _ = app.stripe.expire_session(&expired_session).await;
    assert_eq!(
        app.stripe.session(&paid_session).unwrap()["status"],
        "complete"
    );
    assert_eq!(app.order_status(&paid).await, "pending_payment");

    let report = sweep(&app, &options()).await;

    assert_eq!(report.missed_payments, 1, "{report:?}");
    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(
        job_facts(&app.pool, &paid).await,
        ("paid".into(), Some("ready".into()), 1)
    );
    assert_eq!(
        job_facts(&app.pool, &open).await,
        ("pending_payment".into(), Some("awaiting_payment".into()), 1)
    );
    assert_eq!(
        job_facts(&app.pool, &expired).await,
        ("expired".into(), Some("cancelled".into()), 1)
    );
    let (code, order) = app.get_order(&paid).await;
    assert_eq!(code, 200);
    assert!(order["paid_at"].is_string(), "{order}");
    // Applied once: the next sweep finds nothing new.
    let again = sweep(&app, &options()).await;
    assert_eq!((again.missed_payments, again.expired), (0, 0));
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// (c) lost checkouts, (d) dead tasks, (e) housekeeping
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_checkout_whose_task_exhausted_its_retries_is_requeued_and_completes_with_one_session() {
    let mut app = spawn_app_with(Options {
        max_retries: 1,
        retry_base: Duration::from_millis(20),
        checkout_wait: Duration::from_millis(300),
        start_worker: false,
        ..Options::default()
    })
    .await;
    let response = app.post_checkout(&checkout_body("lost@example.com")).await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    let order_id = body["order_id"].as_str().unwrap().to_owned();
    app.kill_checkout_task(&order_id).await;
    assert_eq!(dead_tasks(&app.pool).await.unwrap().count, 1);
    app.start_worker();

    let report = sweep(&app, &options()).await;

    assert_eq!(report.requeued, 1, "{report:?}");
    assert_eq!(report.dead_tasks, 0, "revived before counting: {report:?}");
    assert_eq!(report.failed, 0);
    let (pool, id) = (app.pool.clone(), order_id.clone());
    wait_until("the order has its session", Duration::from_secs(10), || {
        let (pool, id) = (pool.clone(), id.clone());
        async move {
            let session: Option<String> =
                sqlx::query_scalar("SELECT stripe_session_id FROM h2s_orders WHERE order_id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            session.is_some()
        }
    })
    .await;
    assert_eq!(app.stripe.sessions_created_for(&order_id), 1);
    assert_eq!(dead_tasks(&app.pool).await.unwrap().count, 0);
    assert_eq!(sweep(&app, &options()).await.requeued, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_lost_checkout_older_than_stripes_idempotency_window_is_requeued_and_ends_failed_without_a_session()
 {
    let app = spawn_app_with(Options {
        max_retries: 1,
        retry_base: Duration::from_millis(20),
        checkout_wait: Duration::from_millis(300),
        start_worker: false,
        ..Options::default()
    })
    .await;
    let response = app.post_checkout(&checkout_body("late@example.com")).await;
    let body: Value = response.json().await.unwrap();
    let order_id = body["order_id"].as_str().unwrap().to_owned();
    app.kill_checkout_task(&order_id).await;
    sqlx::query("UPDATE h2s_orders SET created_at = now() - interval '2 days' WHERE order_id = $1")
        .bind(&order_id)
        .execute(&app.pool)
        .await
        .unwrap();

    let report = sweep(&app, &options()).await;

    assert_eq!(report.requeued, 1, "{report:?}");
    // The worker's steps, run in-process: no waiting on a real worker.
    app.run_pending_tasks().await;
    assert_eq!(
        app.order_status(&order_id).await,
        "failed",
        "the old checkout ends failed"
    );
    assert_eq!(app.stripe.sessions_created_for(&order_id), 0);
    assert_eq!(
        job_facts(&app.pool, &order_id).await,
        ("failed".into(), Some("cancelled".into()), 1)
    );
    assert_eq!(sweep(&app, &options()).await.requeued, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn finished_tasks_past_the_retention_are_deleted_and_dead_ones_are_counted_with_their_age() {
    let app = spawn_app_with(no_worker()).await;
    sqlx::query(
        r#"
        INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at,
                                 done_at, idempotency_key)
        SELECT 'old-' || g, 'h2s_outbox', '\x7b7d'::bytea, 'Done', 1, 9,
               now() - interval '9 days', now() - interval '8 days', 'notify_paid:OLD-' || g
        FROM generate_series(1, 30) g
        UNION ALL
        SELECT 'new-' || g, 'h2s_outbox', '\x7b7d'::bytea, 'Done', 1, 9,
               now() - interval '1 day', now() - interval '1 day', 'notify_paid:NEW-' || g
        FROM generate_series(1, 5) g
        UNION ALL
        SELECT 'dead-1', 'h2s_outbox', '\x7b7d'::bytea, 'Failed', 3, 3,
               now() - interval '2 hours', NULL, 'notify_paid:DEAD-1'
        UNION ALL
        SELECT 'dead-2', 'h2s_outbox', '\x7b7d'::bytea, 'Killed', 1, 9,
               now() - interval '1 hour', now() - interval '1 hour', 'notify_paid:DEAD-2'
        "#,
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // Dead tasks are revived only after their backoff: a day here, so they stay counted.
    let options = SweepOptions {
        revive_after: Duration::from_secs(86_400),
        ..options()
    };
    let dry = sweep(
        &app,
        &SweepOptions {
            dry_run: true,
            ..options.clone()
        },
    )
    .await;
    let real = sweep(&app, &options).await;

    assert_eq!((dry.deleted, dry.dead_tasks), (30, 2), "{dry:?}");
    assert_eq!((real.deleted, real.dead_tasks), (30, 2), "{real:?}");
    let oldest = real.oldest_dead_task_age_s.expect("an age");
    assert!(
        (7_000..8_000).contains(&oldest),
        "oldest dead task {oldest} s"
    );
    assert_eq!(app.count("apalis.jobs WHERE status = 'Done'").await, 5);
    assert_eq!(app.count("apalis.jobs").await, 7);
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Failures, the binary, the schedule
// ---------------------------------------------------------------------------------------

/// Runs `reconcile --once --json` against the app's database and stand-in.
async fn run_binary(app: &TestApp, extra: &[&str]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reconcile"))
        .env_clear()
        .args(["--once", "--json", "--database-url", &app.database_url])
        .args(["--stripe-secret-key", "sk_test_reconcile"])
        .args(["--stripe-api-base", &app.stripe.base_url()])
        .args(extra)
        .output()
        .await
        .expect("reconcile runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let report = serde_json::from_str(&stdout).expect("a JSON report");
    (out.status.code().expect("an exit code"), report)
}

#[tokio::test]
async fn the_stand_in_down_during_a_sweep_names_the_failures_exits_non_zero_and_the_next_sweep_finishes()
 {
    let app = spawn_app().await;
    let (a, session_a) = app.checkout("down-a@example.com").await;
    let (b, session_b) = app.checkout("down-b@example.com").await;
    silence_webhooks(&app);
    for session in [&session_a, &session_b] {
        let _ = app
            .stripe
            .complete_session(session, PaymentStatus::Paid)
            .await;
    }
    let legacy = insert_legacy_paid_orders(&app.pool, 10).await;
    stripe_down(&app);

    let (code, report) = run_binary(&app, &["--stale-after", "0s"]).await;

    // The missed payments are found through Stripe's event list: one call, one failure.
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(report["missed_payments"], 0);
    assert_eq!(report["orphans_repaired"], 10, "the other repairs are done");
    let failure = &report["failures"][0];
    assert_eq!(failure["repair"], "missed_payment", "{report}");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("listing Stripe events"),
        "{report}"
    );
    assert_one_linked_ready_job_each(&app.pool, &legacy).await;

    app.stripe.set_faults(Faults::default());
    let (code, report) = run_binary(&app, &["--stale-after", "0s"]).await;

    assert_eq!(code, 0, "{report}");
    assert_eq!(report["missed_payments"], 2, "{report}");
    assert_eq!(report["failed"], 0);
    assert_eq!(report["orphans_repaired"], 0);
    assert_one_linked_ready_job_each(&app.pool, &[a, b]).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_reconcile_binary_runs_one_sweep_prints_one_json_report_and_exits_zero() {
    let app = spawn_app_with(no_worker()).await;
    insert_legacy_paid_orders(&app.pool, 3).await;

    let (code, report) = run_binary(&app, &[]).await;

    assert_eq!(code, 0, "{report}");
    for field in [
        "orphans_repaired",
        "missed_payments",
        "expired",
        "requeued",
        "dead_tasks",
        "deleted",
        "failed",
        "duration_ms",
    ] {
        assert!(report[field].is_u64(), "{field} in {report}");
    }
    assert_eq!(report["orphans_repaired"], 3);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["skipped"], false);
    assert_eq!(app.count("h2s_dispatch_jobs").await, 3);
    app.shutdown().await;
}

#[tokio::test]
async fn the_reconcile_binary_without_a_stripe_key_exits_non_zero_with_one_line_naming_it() {
    let db = fresh_database().await;
    let database_url = db.url.clone();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reconcile"))
        .env_clear()
        .args(["--once", "--json", "--database-url", &database_url])
        .output()
        .await
        .expect("reconcile runs");

    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("--stripe-secret-key") && lines[0].contains("STRIPE_SECRET_KEY"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_scheduled_reconciler_sweeps_on_its_schedule_and_stops_on_shutdown() {
    let app = spawn_app_with(no_worker()).await;
    insert_legacy_paid_orders(&app.pool, 3).await;
    let (reports_tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let every_second = parse_schedule("* * * * * *").unwrap();

    let running = tokio::spawn(reconcile::run_scheduled(
        app.pool.clone(),
        stripe_client(&app),
        options(),
        every_second,
        async move {
            let _ = stopped.await;
        },
        move |report| {
            let _ = reports_tx.send(report.clone());
        },
    ));
    let first = tokio::time::timeout(Duration::from_secs(5), reports.recv())
        .await
        .expect("a sweep within a tick")
        .expect("a report");
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), running).await;

    assert_eq!(first.orphans_repaired, 3, "{first:?}");
    assert!(ended.expect("stops promptly").unwrap().is_ok());
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Cost: the plans
// ---------------------------------------------------------------------------------------

/// Relations read by a sequential scan anywhere in a plan.
fn seq_scans(plan: &Value, found: &mut Vec<String>) {
    match plan {
        Value::Object(node) => {
            if node.get("Node Type").and_then(Value::as_str) == Some("Seq Scan") {
                found.push(node["Relation Name"].as_str().unwrap_or("?").to_owned());
            }
            node.values().for_each(|v| seq_scans(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| seq_scans(v, found)),
        _ => {}
    }
}

fn indexes_used(plan: &Value, found: &mut Vec<String>) {
    match plan {
        Value::Object(node) => {
            if let Some(name) = node.get("Index Name").and_then(Value::as_str) {
                found.push(name.to_owned());
            }
            node.values().for_each(|v| indexes_used(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| indexes_used(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_sweep_query_reads_through_an_index_on_a_table_of_100k_orders() {
    let db = fresh_database().await;
    let pool = db.pool.clone();
    // The seed is not what is measured: on a box busy with the other suites its bulk
    // statements can outlast the pool's statement timeout, so they run in one transaction
    // without it (the plans below are read through the pool, with it).
    let mut seed = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *seed)
        .await
        .unwrap();
    // 100k orders, as a live system holds them: almost all paid with their job, some expired
    // or failed, 1% awaiting payment with a session, a few checkouts without one.
    for statement in [
        r#"INSERT INTO h2s_recipients (recipient_id, email)
           VALUES ('00000000-0000-0000-0000-000000000001', 'bulk@example.com')"#,
        r#"INSERT INTO h2s_orders (order_id, status, customer_email, stripe_session_id,
                                  checkout_trace_id, created_at)
           SELECT 'BULK-' || g,
                  CASE g % 100 WHEN 0 THEN 'pending_payment' WHEN 1 THEN 'expired'
                               WHEN 2 THEN 'failed' ELSE 'paid' END,
                  'bulk@example.com',
                  CASE WHEN g % 1000 = 0 THEN NULL ELSE 'cs_bulk_' || g END,
                  gen_random_uuid(),
                  now() - g * interval '2 seconds'
           FROM generate_series(1, 100000) AS g"#,
        r#"INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status)
           SELECT gen_random_uuid(), order_id, '00000000-0000-0000-0000-000000000001', 'ready'
           FROM h2s_orders WHERE status = 'paid' AND order_id NOT LIKE 'BULK-%777'"#,
        r#"UPDATE h2s_orders o
           SET dispatch_job_id = j.job_id,
               metadata_json = jsonb_build_object('dispatch_job_id', j.job_id::text)
           FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id"#,
        r#"INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at,
                                   done_at, idempotency_key)
           SELECT 'bulk-' || g, 'h2s_outbox', '\x7b7d'::bytea,
                  CASE WHEN g % 5000 = 0 THEN 'Killed' ELSE 'Done' END, 1, 9,
                  now() - g * interval '1 second', now() - g * interval '1 second',
                  'notify_paid:BULK-' || g
           FROM generate_series(1, 100000) AS g"#,
        "ANALYZE h2s_orders",
        "ANALYZE h2s_dispatch_jobs",
        "ANALYZE apalis.jobs",
    ] {
        sqlx::query(statement).execute(&mut *seed).await.unwrap();
    }
    seed.commit().await.unwrap();

    let plans = reconcile::plans::explain(&pool, &SweepOptions::default())
        .await
        .unwrap();

    let expected = [
        ("invariant_violations", "h2s_orders_paid_unlinked"),
        ("stale_unpaid", "h2s_orders_unpaid"),
        ("sessions_past_expiry", "h2s_orders_session_past_expiry"),
        ("oldest_open_session", "h2s_orders_unpaid"),
        (
            "checkouts_without_session",
            "h2s_orders_checkout_without_session",
        ),
        ("live_task_keys", "idx_jobs_idempotency_key"),
        ("dead_tasks", "h2s_outbox_dead"),
        ("count_revivable", "h2s_outbox_dead"),
        ("count_finished", "h2s_outbox_done"),
        ("delete_finished", "h2s_outbox_done"),
    ];
    assert_eq!(plans.len(), expected.len());
    for ((name, plan), (expected_name, index)) in plans.iter().zip(expected) {
        assert_eq!(*name, expected_name);
        let mut seq = Vec::new();
        seq_scans(plan, &mut seq);
        assert!(
            !seq.iter().any(|r| r == "h2s_orders" || r == "jobs"),
            "{name} scans {seq:?} sequentially: {plan:#}"
        );
        let mut used = Vec::new();
        indexes_used(plan, &mut used);
        assert!(
            used.iter().any(|i| i == index),
            "{name} uses {used:?}, not {index}: {plan:#}"
        );
    }
}
