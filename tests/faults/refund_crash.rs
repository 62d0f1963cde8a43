//! Issue 26: the worker SIGKILLed after Stripe made an operator's refund and before the
//! worker recorded it. The next worker replays the call under the request's key: one refund
//! at Stripe, recorded once. No webhook target is set, so the worker's answer is the only
//! word of the refund the system gets.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stripe_standin::{PaymentStatus, StandIn, StandInConfig, sign_payload};

use crate::helpers::*;

const ADMIN: &str = "fault-admin-token";

/// A paid order: checkout through the api, the session paid at the stand-in and its event
/// delivered by hand (the stand-in has no webhook target). Its id.
async fn paid_order(http: &reqwest::Client, api: &Api, stripe: &StandIn) -> String {
    let posted = post_checkout(http, &api.base_url, "refund-crash@example.com", "rc-1").await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let order_id = posted.order_id.expect("an order id");
    let session_id = posted.body["pay"]["session_id"].as_str().unwrap();
    let event = stripe
        .complete_session_silently(session_id, PaymentStatus::Paid)
        .unwrap();
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
    order_id
}

async fn request_row(pool: &sqlx::PgPool, order_id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, stripe_refund_id FROM h2s_refund_requests WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn scalar(pool: &sqlx::PgPool, sql: &'static str, order_id: &str) -> Value {
    let v: sqlx::types::Json<Value> = sqlx::query_scalar(sql)
        .bind(order_id)
        .fetch_one(pool)
        .await
        .unwrap();
    v.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_stripes_refund_and_recording_it_makes_one_refund_recorded_once() {
    let _serial = one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_refund");
    let stripe = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let api = spawn_api(&db, &["--admin-token", ADMIN, "--checkout-wait-ms", "5000"]).await;
    let pool = pool(&db).await;
    let worker_args = ["--retry-base-ms", "50", "--retry-cap-ms", "500"];
    let mut worker = spawn_worker(&db, &stripe.base_url(), &worker_args).await;
    let http = reqwest::Client::new();
    let order_id = paid_order(&http, &api, &stripe).await;

    stripe.hold_refund_answers();
    let accepted = http
        .post(format!(
            "{}/api/admin/orders/{order_id}/refunds",
            api.base_url
        ))
        .bearer_auth(ADMIN)
        .json(&json!({"reason": "customer cancelled", "cancel_job": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    let end = Instant::now() + Duration::from_secs(20);
    while stripe.refunds().is_empty() {
        assert!(
            Instant::now() < end,
            "the worker never asked for the refund"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill();
    let killed_at = started.elapsed();
    stripe.release_refund_answers();
    assert_eq!(
        request_row(&pool, &order_id).await,
        ("requested".to_owned(), None),
        "the killed worker recorded nothing"
    );

    let mut worker = spawn_worker(&db, &stripe.base_url(), &worker_args).await;
    // The killed worker's task comes back after its missed heartbeats (15-20 s).
    let end = Instant::now() + Duration::from_secs(90);
    while request_row(&pool, &order_id).await.0 == "requested" {
        assert!(
            Instant::now() < end,
            "the refund was never recorded: {}",
            worker.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let refunds = stripe.refunds();
    let calls = stripe.calls().get("POST /v1/refunds").copied().unwrap_or(0);
    let (status, refund_id) = request_row(&pool, &order_id).await;
    let books = scalar(
        &pool,
        "SELECT to_jsonb(x) FROM (SELECT o.status, o.amount_refunded, j.status AS job,
                (SELECT count(*) FROM h2s_refunds r WHERE r.order_id = o.order_id) AS recorded
         FROM h2s_orders o JOIN h2s_dispatch_jobs j USING (order_id) WHERE o.order_id = $1) x",
        &order_id,
    )
    .await;
    crate::report!(
        "[faults/refund_crash] killed_at_ms={} refunds_at_stripe={} refund_calls={calls} \
         recorded={} request={status} elapsed_s={:.1}",
        killed_at.as_millis(),
        refunds.len(),
        books["recorded"],
        started.elapsed().as_secs_f64()
    );
    assert_eq!(refunds.len(), 1, "one refund at Stripe");
    assert!(calls >= 2, "the call was replayed ({calls} calls)");
    assert_eq!(status, "succeeded");
    assert_eq!(refund_id.as_deref(), refunds[0]["id"].as_str());
    assert_eq!(
        books,
        json!({"status": "refunded", "amount_refunded": 10_000, "job": "cancelled", "recorded": 1})
    );

    worker.terminate(Duration::from_secs(10));
    drop(api);
    pool.close().await;
    drop_database(&db).await;
}
