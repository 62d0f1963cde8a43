//! Issue 9: the invariant, whole. Failures that are not the order's never fail it; a paid
//! order always ends with its one ready job, linked both ways, whatever the order of events
//! or the state written into the tables; missed webhooks are found through Stripe's Events
//! API at a cost that follows events, not open carts.

use std::time::{Duration, Instant};

use h2s_dispatch::{
    invariant,
    outbox::dead::dead_tasks,
    reconcile::{self, SweepOptions, SweepReport},
    stripe::{StripeClientConfig, StripeHttp},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use stripe_standin::{API_VERSION, Faults, PaymentStatus, sign_payload};

use crate::helpers::{
    NotifyReceiver, Options, TestApp, WEBHOOK_SECRET, checkout_body, spawn_app, spawn_app_with,
    wait_until,
};

fn options() -> SweepOptions {
    SweepOptions {
        stale_after: Duration::ZERO,
        requeue_after: Duration::ZERO,
        expiry_grace: Duration::ZERO,
        revive_after: Duration::ZERO,
        ..SweepOptions::default()
    }
}

async fn sweep(app: &TestApp, options: &SweepOptions) -> SweepReport {
    let stripe = StripeHttp::new(StripeClientConfig {
        secret_key: "sk_test_invariant".to_owned().into(),
        api_base: app.stripe.base_url(),
        timeout: Duration::from_secs(5),
        max_rps: None,
    })
    .expect("stripe client");
    reconcile::sweep(&app.pool, &stripe, options)
        .await
        .expect("the sweep runs")
}

/// `violations` counted before a sweep, all repaired by it: its report.
async fn sweep_repairs_every_violation(app: &TestApp, violations: i64) -> SweepReport {
    assert_eq!(invariant::count(&app.pool).await.unwrap(), violations);
    let report = sweep(app, &options()).await;
    assert_eq!(
        report.invariant_violations_before, violations as u64,
        "{report:?}"
    );
    assert_eq!(report.invariant_violations_after, 0, "{report:?}");
    report
}

/// `(order status, status of the job the order links, jobs of the order, metadata link
/// equals the column)`.
async fn facts(pool: &PgPool, order_id: &str) -> (String, Option<String>, i64, bool) {
    sqlx::query_as(
        r#"
        SELECT o.status,
               (SELECT j.status FROM h2s_dispatch_jobs j
                WHERE j.job_id = o.dispatch_job_id AND j.order_id = o.order_id),
               (SELECT count(*) FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id),
               (o.metadata_json->>'dispatch_job_id') IS NOT DISTINCT FROM o.dispatch_job_id::text
        FROM h2s_orders o WHERE o.order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
    .expect("order exists")
}

fn paid_with_one_ready_job() -> (String, Option<String>, i64, bool) {
    ("paid".into(), Some("ready".into()), 1, true)
}

async fn session_of(pool: &PgPool, order_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT stripe_session_id FROM h2s_orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(pool)
        .await
        .expect("order exists")
}

// ---------------------------------------------------------------------------------------
// Whose fault: a revoked key fails no order
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn with_stripe_refusing_our_key_five_checkouts_answer_202_stay_pending_and_complete_once_it_works()
 {
    // One retry allowed: were an outage counted as the task's failure, each task would be
    // dead after its second 401.
    let app = spawn_app_with(Options {
        checkout_wait: Duration::from_millis(300),
        max_retries: 1,
        retry_base: Duration::from_millis(20),
        ..Options::default()
    })
    .await;
    app.stripe.set_faults(Faults {
        error_rate: 1.0,
        error_status: 401,
        ..Faults::default()
    });

    let bodies: Vec<Value> = (0..5)
        .map(|i| checkout_body(&format!("key{i}@example.com")))
        .collect();
    let responses = futures::future::join_all(bodies.iter().map(|b| app.post_checkout(b))).await;
    let mut orders = Vec::new();
    for response in responses {
        assert_eq!(response.status().as_u16(), 202, "never 422 for our key");
        let body: Value = response.json().await.unwrap();
        orders.push(body["order_id"].as_str().unwrap().to_owned());
    }
    wait_until(
        "every checkout was refused at least three times",
        Duration::from_secs(15),
        || async { app.stripe.create_calls() >= 15 },
    )
    .await;
    for order_id in &orders {
        assert_eq!(app.order_status(order_id).await, "pending_payment");
    }
    assert_eq!(
        dead_tasks(&app.pool).await.unwrap().count,
        0,
        "no task died"
    );

    app.stripe.set_faults(Faults::default());

    let pool = app.pool.clone();
    let ids = orders.clone();
    wait_until(
        "all five have their session, with no manual step",
        Duration::from_secs(15),
        || {
            let (pool, ids) = (pool.clone(), ids.clone());
            async move {
                let with: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM h2s_orders
                     WHERE order_id = ANY($1) AND stripe_session_id IS NOT NULL",
                )
                .bind(&ids)
                .fetch_one(&pool)
                .await
                .unwrap();
                with == 5
            }
        },
    )
    .await;
    for order_id in &orders {
        assert_eq!(app.stripe.sessions_created_for(order_id), 1);
        let (code, view) = app.get_order(order_id).await;
        assert_eq!(code, 200);
        assert_eq!(view["status"], "pending_payment", "{view}");
        assert!(view["pay"]["session_url"].is_string(), "{view}");
    }
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// One function sets `paid`, and brings the job to `ready`
// ---------------------------------------------------------------------------------------

/// A signed `checkout.session.completed` (paid) for the session as the stand-in holds it.
fn paid_event(session: &Value, event_id: &str) -> (String, String) {
    let mut session = session.clone();
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    session["url"] = Value::Null;
    let event = json!({
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
        "data": {"object": session},
    });
    let payload = event.to_string();
    let signature = sign_payload(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
    (payload, signature)
}

#[tokio::test]
async fn an_order_expired_with_its_job_cancelled_then_paid_is_paid_with_its_one_job_ready() {
    let app = spawn_app().await;
    let (order_id, session_id) = app.checkout("late-payer@example.com").await;
    let expired = app.stripe.expire_session(&session_id).await.unwrap();
    assert_eq!(expired.status, 200);
    assert_eq!(
        facts(&app.pool, &order_id).await,
        ("expired".into(), Some("cancelled".into()), 1, true)
    );

    let session = app.stripe.session(&session_id).unwrap();
    let (payload, signature) = paid_event(&session, "evt_late_payment_after_expiry");
    let response = app.deliver(&payload, Some(&signature)).await;

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(facts(&app.pool, &order_id).await, paid_with_one_ready_job());
    assert_eq!(invariant::count(&app.pool).await.unwrap(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn paid_orders_written_into_the_tables_with_a_cancelled_job_no_link_or_no_job_are_repaired_by_one_sweep()
 {
    let app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    // As an operator or an older system would leave them: a paid order whose job is
    // cancelled, one whose metadata does not name its job, one with no job at all, and one
    // healthy order that must not be touched.
    for statement in [
        r#"INSERT INTO h2s_recipients (recipient_id, email)
           VALUES ('00000000-0000-0000-0000-0000000000aa', 'table@example.com')"#,
        r#"INSERT INTO h2s_orders (order_id, status, customer_email, paid_at)
           VALUES ('TBL-CANCELLED', 'paid', 'table@example.com', now()),
                  ('TBL-NOMETA', 'paid', 'table@example.com', now()),
                  ('TBL-NOJOB', 'paid', 'table@example.com', now()),
                  ('TBL-HEALTHY', 'paid', 'table@example.com', now())"#,
        r#"INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status)
           VALUES ('00000000-0000-0000-0000-0000000000c1', 'TBL-CANCELLED',
                   '00000000-0000-0000-0000-0000000000aa', 'cancelled'),
                  ('00000000-0000-0000-0000-0000000000c2', 'TBL-NOMETA',
                   '00000000-0000-0000-0000-0000000000aa', 'ready'),
                  ('00000000-0000-0000-0000-0000000000c3', 'TBL-HEALTHY',
                   '00000000-0000-0000-0000-0000000000aa', 'scheduled')"#,
        r#"UPDATE h2s_orders o
           SET dispatch_job_id = j.job_id,
               metadata_json = CASE WHEN o.order_id = 'TBL-NOMETA' THEN '{}'::jsonb
                                    ELSE jsonb_build_object('dispatch_job_id', j.job_id::text) END
           FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id"#,
    ] {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
    let report = sweep_repairs_every_violation(&app, 3).await;
    assert_eq!(report.orphans_repaired, 3, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    for order_id in ["TBL-CANCELLED", "TBL-NOMETA", "TBL-NOJOB"] {
        assert_eq!(
            facts(&app.pool, order_id).await,
            paid_with_one_ready_job(),
            "{order_id}"
        );
    }
    assert_eq!(
        facts(&app.pool, "TBL-HEALTHY").await,
        ("paid".into(), Some("scheduled".into()), 1, true),
        "a job the dispatcher moved on is left alone"
    );
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("h2s_invariant_violations 0"), "{metrics}");
    assert_eq!(sweep(&app, &options()).await.orphans_repaired, 0);
    app.shutdown().await;
}

/// Issue 34: the invariant extends to an `authorized` order (its money is held): it has
/// exactly one job, linked both ways and `ready` or later, as a paid one does. The query finds
/// one with no job and one whose job is on hold; the sweep repairs both, and leaves a held
/// order whose job the dispatcher has alone.
#[tokio::test]
async fn authorized_orders_written_with_no_job_or_a_held_job_break_the_invariant_until_a_sweep() {
    let app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    for statement in [
        r#"INSERT INTO h2s_recipients (recipient_id, email)
           VALUES ('00000000-0000-0000-0000-0000000000ab', 'held@example.com')"#,
        r#"INSERT INTO h2s_orders (order_id, status, capture_method, customer_email)
           VALUES ('HELD-NOJOB', 'authorized', 'manual', 'held@example.com'),
                  ('HELD-ONHOLD', 'authorized', 'manual', 'held@example.com'),
                  ('HELD-HEALTHY', 'authorized', 'manual', 'held@example.com')"#,
        r#"INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status)
           VALUES ('00000000-0000-0000-0000-0000000000d1', 'HELD-ONHOLD',
                   '00000000-0000-0000-0000-0000000000ab', 'on_hold'),
                  ('00000000-0000-0000-0000-0000000000d2', 'HELD-HEALTHY',
                   '00000000-0000-0000-0000-0000000000ab', 'scheduled')"#,
        r#"UPDATE h2s_orders o
           SET dispatch_job_id = j.job_id,
               metadata_json = jsonb_build_object('dispatch_job_id', j.job_id::text)
           FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id"#,
    ] {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
    sweep_repairs_every_violation(&app, 2).await;
    for order_id in ["HELD-NOJOB", "HELD-ONHOLD"] {
        assert_eq!(
            facts(&app.pool, order_id).await,
            ("authorized".into(), Some("ready".into()), 1, true),
            "{order_id}"
        );
    }
    assert_eq!(
        facts(&app.pool, "HELD-HEALTHY").await,
        ("authorized".into(), Some("scheduled".into()), 1, true),
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Missed webhooks through the Events API
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn ten_missed_payments_among_ten_thousand_open_carts_are_repaired_with_at_most_three_stripe_calls()
 {
    let app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    // 10,000 open carts, an hour old (past the stale threshold), sessions open for 23 h more.
    sqlx::query(
        r#"
        INSERT INTO h2s_orders (order_id, status, customer_email, stripe_session_id,
                                stripe_session_expires_at, checkout_trace_id, created_at)
        SELECT 'OPEN-' || g, 'pending_payment', 'cart' || g || '@example.com',
               'cs_test_open_' || g, now() + interval '23 hours', gen_random_uuid(),
               now() - interval '1 hour'
        FROM generate_series(1, 10000) AS g
        "#,
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // 10 more whose sessions exist at Stripe and are paid there; the webhooks never come.
    let mut paid = Vec::new();
    for i in 0..10 {
        let order_id = format!("MISSED-{i:02}");
        let session_id = app
            .create_session_at_stripe(&format!("missed{i}@example.com"), &order_id, &[])
            .await;
        sqlx::query(
            r#"
            INSERT INTO h2s_orders (order_id, status, customer_email, stripe_session_id,
                                    checkout_trace_id, created_at)
            VALUES ($1, 'pending_payment', $2, $3, gen_random_uuid(), now() - interval '50 minutes')
            "#,
        )
        .bind(&order_id)
        .bind(format!("missed{i}@example.com"))
        .bind(&session_id)
        .execute(&app.pool)
        .await
        .unwrap();
        app.stripe
            .complete_session_silently(&session_id, PaymentStatus::Paid)
            .unwrap();
        paid.push(order_id);
    }
    sqlx::query("ANALYZE h2s_orders")
        .execute(&app.pool)
        .await
        .unwrap();
    app.stripe.reset_calls();

    let started = Instant::now();
    let first = sweep(&app, &SweepOptions::default()).await;
    let first_ms = started.elapsed().as_millis();
    let first_calls = app.stripe.total_calls();
    app.stripe.reset_calls();
    let started = Instant::now();
    let second = sweep(&app, &SweepOptions::default()).await;
    let second_ms = started.elapsed().as_millis();
    let second_calls = app.stripe.total_calls();

    eprintln!(
        "[invariant/missed_payments] open_carts=10000 missed=10 \
         sweep1: stripe_calls={first_calls} repaired={} ms={first_ms} \
         sweep2: stripe_calls={second_calls} repaired={} ms={second_ms}",
        first.missed_payments, second.missed_payments
    );
    assert_eq!(first.missed_payments, 10, "{first:?}");
    assert_eq!(first.failed, 0, "{first:?}");
    assert!(
        first_calls <= 3,
        "{first_calls} calls: {:?}",
        app.stripe.calls()
    );
    assert_eq!(first.stripe_calls as usize, first_calls);
    for order_id in &paid {
        assert_eq!(facts(&app.pool, order_id).await, paid_with_one_ready_job());
    }
    assert_eq!(second.missed_payments, 0, "{second:?}");
    assert!(second_calls <= 1, "{second_calls} calls");
    assert_eq!(
        app.count("h2s_orders WHERE status = 'pending_payment'")
            .await,
        10_000
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_event_delivered_by_the_webhook_and_listed_by_the_sweep_is_applied_once() {
    let app = spawn_app().await;
    let (delivered, delivered_session) = app.checkout("delivered@example.com").await;
    let (missed, missed_session) = app.checkout("missed@example.com").await;
    let delivery = app
        .stripe
        .complete_session(&delivered_session, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    app.stripe
        .complete_session_silently(&missed_session, PaymentStatus::Paid)
        .unwrap();

    let report = sweep(&app, &options()).await;

    assert_eq!(report.events_listed, 2, "{report:?}");
    assert_eq!(report.missed_payments, 1, "only the missed one: {report:?}");
    let sources: Vec<(String, String)> = sqlx::query_as(
        "SELECT order_id, source FROM h2s_stripe_events
         WHERE event_type = 'checkout.session.completed' ORDER BY source",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        sources,
        vec![
            (missed.clone(), "events_api".to_owned()),
            (delivered.clone(), "webhook".to_owned())
        ]
    );
    for order_id in [&delivered, &missed] {
        assert_eq!(facts(&app.pool, order_id).await, paid_with_one_ready_job());
        assert_eq!(
            app.count(&format!(
                "apalis.jobs WHERE idempotency_key = 'notify_paid:{order_id}'"
            ))
            .await,
            1
        );
    }
    let again = sweep(&app, &options()).await;
    assert_eq!(again.missed_payments, 0, "{again:?}");
    assert_eq!(app.count("h2s_stripe_events").await, 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_past_its_expiry_with_no_event_seen_is_retrieved_once_and_never_again() {
    let app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    let session_id = app
        .create_session_at_stripe("quiet@example.com", "QUIET-1", &[])
        .await;
    sqlx::query(
        r#"
        INSERT INTO h2s_orders (order_id, status, customer_email, stripe_session_id,
                                stripe_session_expires_at, created_at)
        VALUES ('QUIET-1', 'pending_payment', 'quiet@example.com', $1,
                now() - interval '2 hours', now() - interval '26 hours')
        "#,
    )
    .bind(&session_id)
    .execute(&app.pool)
    .await
    .unwrap();
    app.stripe.reset_calls();

    let first = sweep(&app, &options()).await;
    let second = sweep(&app, &options()).await;

    assert_eq!(first.sessions_retrieved, 1, "{first:?}");
    assert_eq!(second.sessions_retrieved, 0, "once per order: {second:?}");
    assert_eq!(
        app.stripe.calls().get("GET /v1/checkout/sessions/{id}"),
        Some(&1)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_cursor_older_than_stripes_event_window_retrieves_the_stale_sessions_once_then_lists_events()
 {
    let app = spawn_app().await;
    let (order_id, session_id) = app.checkout("old-cursor@example.com").await;
    app.stripe
        .complete_session_silently(&session_id, PaymentStatus::Paid)
        .unwrap();
    sqlx::query(
        "INSERT INTO h2s_sweep_cursors (name, position)
         VALUES ('stripe_events', EXTRACT(EPOCH FROM now() - interval '31 days')::bigint)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.stripe.reset_calls();

    let first = sweep(&app, &options()).await;
    let first_calls = app.stripe.calls();
    app.stripe.reset_calls();
    let second = sweep(&app, &options()).await;

    assert_eq!(first.sessions_retrieved, 1, "{first:?}");
    assert_eq!(first.missed_payments, 1, "{first:?}");
    assert_eq!(
        first_calls.get("GET /v1/checkout/sessions/{id}"),
        Some(&1),
        "{first_calls:?}"
    );
    assert_eq!(facts(&app.pool, &order_id).await, paid_with_one_ready_job());
    assert_eq!(second.sessions_retrieved, 0, "{second:?}");
    assert_eq!(
        app.stripe.calls().get("GET /v1/checkout/sessions/{id}"),
        None,
        "the cursor is back inside the window"
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Deterministic bodies; an idempotency_error adopts the existing session
// ---------------------------------------------------------------------------------------

const BODY_MARK: &str = "SESSION-BODY:";

/// Not a test of its own: run by the next test in child processes (each with its own hash
/// seed) to print the session-create body of one fixed order.
#[tokio::test]
async fn print_the_session_body_for_a_parent_process() {
    if std::env::var_os("H2S_PRINT_SESSION_BODY").is_none() {
        return;
    }
    use h2s_dispatch::{orders::OrderId, orders::repo::SessionInputs, stripe::sessions};
    let metadata = (0..12)
        .map(|i| (format!("key_{i}"), format!("value {i}")))
        .collect();
    let order = SessionInputs {
        order_id: OrderId::parse("ORD-DETERMINISTIC01").unwrap(),
        status: "pending_payment".into(),
        customer_email: "seed@example.com".into(),
        cart_json: serde_json::from_value(json!([
            {"price_id": "price_a", "qty": 1},
            {"price_id": "price_b", "qty": 3}
        ]))
        .unwrap(),
        metadata_json: metadata,
        success_url: Some("https://shop.example/thanks".into()),
        cancel_url: Some("https://shop.example/cart".into()),
        checkout_trace_id: Some(uuid::Uuid::nil()),
        dispatch_job_id: None,
        stripe_session_id: None,
        created_at: chrono::Utc::now(),
        capture_method: "automatic".into(),
        pay_attempt: 0,
        attempt_started_at: chrono::Utc::now(),
    };
    println!(
        "{BODY_MARK}{}",
        sessions::create_body(&order, uuid::Uuid::nil())
    );
}

fn body_from_a_child_process() -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "invariant::print_the_session_body_for_a_parent_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("H2S_PRINT_SESSION_BODY", "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once(BODY_MARK).map(|(_, body)| body))
        .unwrap_or_else(|| panic!("no body printed: {stdout}"))
        .to_owned()
}

#[tokio::test]
async fn two_processes_encode_the_same_orders_session_body_byte_for_byte() {
    let bodies: Vec<String> = (0..3).map(|_| body_from_a_child_process()).collect();
    assert!(
        bodies[0].contains("metadata%5Bkey_11%5D=value+11"),
        "{}",
        bodies[0]
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:#?}");
}

#[tokio::test]
async fn an_idempotency_error_ends_with_the_order_holding_the_session_created_under_its_key() {
    let mut app = spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::ZERO,
        ..Options::default()
    })
    .await;
    let response = app.post_checkout(&checkout_body("idem@example.com")).await;
    assert_eq!(response.status().as_u16(), 202);
    let order_id = response.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another process (an older build) used the order's key with other parameters.
    let existing: Value = app
        .http
        .post(format!("{}/v1/checkout/sessions", app.stripe.base_url()))
        .bearer_auth("sk_test_x")
        .header(
            "Idempotency-Key",
            format!("h2s-checkout-session-{order_id}"),
        )
        .form(&[
            ("mode", "payment"),
            ("line_items[0][price]", "price_123"),
            ("line_items[0][quantity]", "1"),
            ("customer_email", "idem@example.com"),
            ("client_reference_id", order_id.as_str()),
            ("metadata[order_id]", order_id.as_str()),
            ("metadata[note]", "encoded by another process"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let existing_id = existing["id"].as_str().unwrap().to_owned();

    app.start_worker();
    let pool = app.pool.clone();
    let id = order_id.clone();
    wait_until("the order holds a session", Duration::from_secs(10), || {
        let (pool, id) = (pool.clone(), id.clone());
        async move { session_of(&pool, &id).await.is_some() }
    })
    .await;

    assert_eq!(
        session_of(&app.pool, &order_id).await.as_deref(),
        Some(existing_id.as_str())
    );
    assert_eq!(app.order_status(&order_id).await, "pending_payment");
    assert_eq!(app.stripe.sessions_created_for(&order_id), 1);
    assert!(
        app.stripe.calls().contains_key("GET /v1/checkout/sessions"),
        "found by listing: {:?}",
        app.stripe.calls()
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Dead tasks of every kind come back
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_dead_notify_paid_task_is_revived_by_the_next_sweep_and_the_notice_is_sent_once() {
    let addr = NotifyReceiver::reserve_addr().await;
    let app = spawn_app_with(Options {
        notify_webhook_url: Some(format!("http://{addr}/hook")),
        max_retries: 1,
        retry_base: Duration::from_millis(20),
        ..Options::default()
    })
    .await;
    let (order_id, session_id) = app.checkout("notify-dead@example.com").await;
    app.stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();
    let pool = app.pool.clone();
    wait_until("the notice task is dead", Duration::from_secs(10), || {
        let pool = pool.clone();
        async move { dead_tasks(&pool).await.unwrap().count == 1 }
    })
    .await;
    let receiver = NotifyReceiver::start_on(addr).await;

    let report = sweep(&app, &options()).await;

    assert_eq!(report.revived_tasks, 1, "{report:?}");
    assert_eq!(report.dead_tasks, 0, "{report:?}");
    wait_until("the notice arrives", Duration::from_secs(10), || async {
        receiver.count() >= 1
    })
    .await;
    wait_until("the task is done", Duration::from_secs(10), || async {
        app.count(&format!(
            "apalis.jobs WHERE idempotency_key = 'notify_paid:{order_id}' AND status = 'Done'"
        ))
        .await
            == 1
    })
    .await;
    assert_eq!(sweep(&app, &options()).await.revived_tasks, 0);
    assert_eq!(receiver.count(), 1, "sent once");
    assert_eq!(
        receiver.received.lock().unwrap()[0]["order_id"],
        order_id.as_str()
    );
    app.shutdown().await;
}
