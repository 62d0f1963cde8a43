//! Postgres stops (its own throwaway cluster) while a committed checkout waits for its
//! session: the answer is 202 with the status URL, never a 5xx that would invite a retry
//! creating a second order; the order completes once Postgres is back.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use stripe_standin::{StandIn, StandInConfig};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopping_while_a_checkout_waits_answers_202_and_the_order_completes_after_recovery()
 {
    let _serial = crate::helpers::one_at_a_time().await;
    let cluster = Arc::new(
        tokio::task::spawn_blocking(Cluster::init)
            .await
            .expect("cluster"),
    );
    let db = format!("{}/h2s_db_wait", cluster.server_url());
    // A slow Stripe: the worker is inside its call when the database goes.
    let stripe = StandIn::spawn(StandInConfig {
        latency: Duration::from_secs(3),
        ..StandInConfig::default()
    })
    .await
    .expect("stand-in");
    let mut api = spawn_api(&db, &["--checkout-wait-ms", "20000"]).await;
    let mut worker = spawn_worker(
        &db,
        &stripe.base_url(),
        &["--retry-base-ms", "100", "--retry-cap-ms", "1000"],
    )
    .await;
    let pool = pool(&db).await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let request = {
        let (http, url) = (http.clone(), format!("{}/api/shop", api.base_url));
        tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&checkout_body("waiting@example.com"))
                .send()
                .await
                .expect("an answer");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM h2s_orders")
            .fetch_one(&pool)
            .await
            .unwrap();
        if orders == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the order was never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop()).await.unwrap();
    let (status, body) = request.await.expect("the request task");
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start())
        .await
        .unwrap();

    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let completed = wait_for_completion(
        &pool,
        std::slice::from_ref(&order_id),
        Duration::from_secs(60),
    )
    .await;
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM h2s_orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    let sessions = stripe
        .sessions()
        .iter()
        .filter(|s| s["metadata"]["order_id"] == order_id.as_str())
        .count();
    crate::report!(
        "[faults/db_wait] status={status} completed={completed} orders={orders} sessions={sessions}"
    );

    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status_url"], format!("/api/orders/{order_id}"));
    assert_eq!(completed, 1, "worker log: {}", worker.log.display());
    assert_eq!(orders, 1, "no second order");
    assert_eq!(sessions, 1);

    worker.terminate(Duration::from_secs(10));
    api.proc.terminate(Duration::from_secs(10));
    pool.close().await;
}
