//! Issue 34: the worker SIGKILLed after Stripe captured a held payment and before the worker
//! recorded it. The next worker replays the capture under the order's one capture key: one
//! capture at Stripe, the order `paid`. No webhook target is set, so the worker's answers are
//! the only word of the hold and its capture the system gets.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stripe_standin::{PaymentStatus, StandIn, StandInConfig, sign_payload};

use crate::helpers::*;

const ADMIN: &str = "fault-admin-token";

async fn admin(http: &reqwest::Client, url: String, body: Option<Value>) -> u16 {
    let mut request = http.post(url).bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn order(pool: &sqlx::PgPool, order_id: &str) -> Value {
    let row: sqlx::types::Json<Value> =
        sqlx::query_scalar("SELECT to_jsonb(o) FROM h2s_orders o WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(pool)
            .await
            .unwrap();
    row.0
}

async fn wait_for(pool: &sqlx::PgPool, order_id: &str, status: &str, worker: &Proc) {
    let end = Instant::now() + Duration::from_secs(90);
    while order(pool, order_id).await["status"] != status {
        assert!(
            Instant::now() < end,
            "the order never became {status}: {}",
            worker.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_stripes_capture_and_recording_it_captures_once_and_the_order_is_paid()
 {
    let _serial = one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_capture");
    let stripe = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let api = spawn_api(&db, &["--admin-token", ADMIN, "--checkout-wait-ms", "5000"]).await;
    let pool = pool(&db).await;
    let worker_args = ["--retry-base-ms", "50", "--retry-cap-ms", "500"];
    let mut worker = spawn_worker(&db, &stripe.base_url(), &worker_args).await;
    let http = reqwest::Client::new();

    // A manual-capture checkout, paid by card: its session's event delivered by hand; the
    // worker reads the PaymentIntent and finds the hold.
    let mut body = checkout_body("capture-crash@example.com");
    body["capture"] = json!("manual");
    let posted = http
        .post(format!("{}/api/shop", api.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 200);
    let posted: Value = posted.json().await.unwrap();
    let order_id = posted["order_id"].as_str().unwrap().to_owned();
    let session_id = posted["pay"]["session_id"].as_str().unwrap();
    let event = stripe
        .complete_session_silently(session_id, PaymentStatus::Paid)
        .unwrap();
    let pi = event["data"]["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let payload = event.to_string();
    let signature = sign_payload(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
    let delivered = http
        .post(format!("{}/api/stripe-webhook", api.base_url))
        .header("Stripe-Signature", signature)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status().as_u16(), 200);
    wait_for(&pool, &order_id, "authorized", &worker).await;

    let job_id: uuid::Uuid =
        sqlx::query_scalar("SELECT job_id FROM h2s_dispatch_jobs WHERE order_id = $1")
            .bind(&order_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let jobs = format!("{}/api/admin/dispatch-jobs/{job_id}", api.base_url);
    let start = chrono::Utc::now() + chrono::Duration::days(1);
    let visit = json!({"window_start": start, "window_end": start + chrono::Duration::hours(2),
                       "technician": "tech-9"});
    assert_eq!(
        admin(&http, format!("{jobs}/schedule"), Some(visit)).await,
        200
    );

    stripe.hold_payment_intent_answers();
    assert_eq!(admin(&http, format!("{jobs}/complete"), None).await, 200);
    let end = Instant::now() + Duration::from_secs(20);
    while stripe.captures(&pi).is_empty() {
        assert!(
            Instant::now() < end,
            "the worker never asked for the capture"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill();
    let killed_at = started.elapsed();
    stripe.release_payment_intent_answers();
    assert_eq!(
        order(&pool, &order_id).await["status"],
        "authorized",
        "the killed worker recorded nothing"
    );

    let mut worker = spawn_worker(&db, &stripe.base_url(), &worker_args).await;
    // The killed worker's task comes back after its missed heartbeats (15-20 s).
    wait_for(&pool, &order_id, "paid", &worker).await;

    let calls: usize = stripe
        .calls()
        .iter()
        .filter(|(endpoint, _)| endpoint.ends_with("/capture"))
        .map(|(_, n)| *n)
        .sum();
    let row = order(&pool, &order_id).await;
    let captured_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM h2s_events WHERE order_id = $1 AND event_type = 'order.captured'",
    )
    .bind(&order_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    crate::report!(
        "[faults/capture_crash] killed_at_ms={} captures_at_stripe={} capture_calls={calls} \
         captured_events={captured_events} elapsed_s={:.1}",
        killed_at.as_millis(),
        stripe.captures(&pi).len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(stripe.captures(&pi), [10_000], "one capture at Stripe");
    assert!(calls >= 2, "the capture was replayed ({calls} calls)");
    assert_eq!(row["amount_captured"], 10_000);
    assert_eq!(captured_events, 1);

    worker.terminate(Duration::from_secs(10));
    drop(api);
    pool.close().await;
}
