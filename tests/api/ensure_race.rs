//! `dispatch::ensure_job` reads the order, locked, with its job in one statement: a job
//! created by the transaction whose lock it waited for is not in that statement's snapshot.
//! The second caller must still find that job (one job), treat it as existing (no second
//! `job.ready` event, its status brought in line) and never create another.

use std::time::Duration;

use h2s_dispatch::{dispatch, orders::OrderId};
use serde_json::Value;

use crate::helpers::{Options, checkout_body, spawn_app_with, wait_until};

#[tokio::test]
async fn a_job_created_by_the_transaction_waited_for_is_found_not_made_twice() {
    let app = spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::ZERO,
        ..Options::default()
    })
    .await;
    let r = app.post_checkout(&checkout_body("race@example.com")).await;
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.unwrap();
    let order_id = OrderId::parse(body["order_id"].as_str().unwrap()).unwrap();
    // Paid already, with no job (what a webhook would find): a job is born `ready`, told.
    sqlx::query("UPDATE h2s_orders SET status = 'paid', paid_at = now() WHERE order_id = $1")
        .bind(&order_id)
        .execute(&app.pool)
        .await
        .unwrap();

    let mut first = app.pool.begin().await.unwrap();
    let made = dispatch::ensure_job(&mut first, &order_id).await.unwrap();
    assert!(made.created);

    let second = {
        let (pool, order_id) = (app.pool.clone(), order_id.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let found = dispatch::ensure_job(&mut tx, &order_id).await.unwrap();
            tx.commit().await.unwrap();
            found
        })
    };
    // The second waits on the order's lock, its snapshot taken before the first commits.
    let pool = app.pool.clone();
    wait_until(
        "the second caller waits on the order's lock",
        Duration::from_secs(10),
        || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
                    == 1
            }
        },
    )
    .await;
    first.commit().await.unwrap();
    let found = second.await.unwrap();

    assert_eq!(found.job_id, made.job_id);
    assert!(!found.created, "the job the first made is the one found");
    assert!(!found.repaired(), "{found:?}");
    assert_eq!(app.count("h2s_dispatch_jobs").await, 1);
    assert_eq!(
        app.count("h2s_events WHERE event_type = 'job.ready'").await,
        1,
        "the new job is told once"
    );
    assert_eq!(
        app.job_status(order_id.as_str()).await.as_deref(),
        Some("ready")
    );
    app.shutdown().await;
}
