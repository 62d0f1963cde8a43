//! Issue 35: a checkout task is one commit (its job, the order's links, its session and its
//! completion), with the Stripe call before it and outside any transaction. The worker
//! SIGKILLed between Stripe's answer and that commit, and after it: each time one job, one
//! session at Stripe, and a completed task.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stripe_standin::{StandIn, StandInConfig};

use crate::helpers::*;

const WORKER_ARGS: [&str; 4] = ["--retry-base-ms", "50", "--retry-cap-ms", "500"];

/// The order's books in one snapshot: its job(s), its session, its task's row.
async fn books(pool: &sqlx::PgPool, order_id: &str) -> Value {
    let row: sqlx::types::Json<Value> = sqlx::query_scalar(
        r#"
        SELECT jsonb_build_object(
            'jobs', (SELECT count(*) FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id),
            'job_id', (SELECT j.job_id::text FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id),
            'linked_job', o.dispatch_job_id::text,
            'session', o.stripe_session_id,
            'task', (SELECT t.status FROM apalis.jobs t WHERE t.idempotency_key = 'checkout:' || o.order_id),
            'attempts', (SELECT t.attempts FROM apalis.jobs t WHERE t.idempotency_key = 'checkout:' || o.order_id))
        FROM h2s_orders o WHERE o.order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
    .unwrap();
    row.0
}

async fn wait_until<F, Fut>(what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < end, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn session_creates(stripe: &StandIn) -> usize {
    stripe
        .calls()
        .get("POST /v1/checkout/sessions")
        .copied()
        .unwrap_or(0)
}

/// What must hold at the end of either scenario: one job, linked, named by the one session
/// Stripe made for the order, which the order stores; the task done.
fn assert_one_of_each(stripe: &StandIn, order_id: &str, books: &Value) {
    assert_eq!(
        stripe.sessions_created_for(order_id),
        1,
        "one session at Stripe"
    );
    let session = stripe
        .sessions()
        .into_iter()
        .find(|s| s["metadata"]["order_id"] == order_id)
        .unwrap();
    assert_eq!(books["jobs"], 1, "{books}");
    assert_eq!(books["linked_job"], books["job_id"], "{books}");
    assert_eq!(session["metadata"]["job_id"], books["job_id"], "{books}");
    assert_eq!(books["session"], session["id"], "{books}");
    assert_eq!(books["task"], "Done", "{books}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_stripes_session_and_its_commit_makes_one_session_and_one_job() {
    let _serial = one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_checkout_crash");
    let stripe = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let api = spawn_api(&db, &["--checkout-wait-ms", "0"]).await;
    let pool = pool(&db).await;
    let mut worker = spawn_worker(&db, &stripe.base_url(), &WORKER_ARGS).await;
    let http = reqwest::Client::new();

    stripe.hold_session_answers();
    let posted = post_checkout(&http, &api.base_url, "between@example.com", "cc-1").await;
    assert_eq!(posted.status, 202, "{}", posted.body);
    let order_id = posted.order_id.expect("an order id");
    wait_until(
        "the worker asks Stripe",
        Duration::from_secs(20),
        || async { stripe.sessions_created_for(&order_id) == 1 },
    )
    .await;
    worker.kill();
    let killed_at = started.elapsed();
    stripe.release_session_answers();
    let after_kill = books(&pool, &order_id).await;
    assert_eq!(
        (&after_kill["jobs"], &after_kill["session"]),
        (&json!(0), &Value::Null),
        "the killed worker committed nothing: {after_kill}"
    );

    let mut worker = spawn_worker(&db, &stripe.base_url(), &WORKER_ARGS).await;
    // The killed worker's task comes back after its missed heartbeats (15-20 s).
    wait_until("the session stored", Duration::from_secs(90), || async {
        books(&pool, &order_id).await["task"] == "Done"
    })
    .await;
    let end = books(&pool, &order_id).await;
    crate::report!(
        "[faults/checkout_crash] between: killed_at_ms={} creates={} sessions={} books={end} elapsed_s={:.1}",
        killed_at.as_millis(),
        session_creates(&stripe),
        stripe.sessions_created_for(&order_id),
        started.elapsed().as_secs_f64()
    );
    assert_one_of_each(&stripe, &order_id, &end);
    assert!(
        session_creates(&stripe) >= 2,
        "the call was repeated under the same key"
    );

    worker.terminate(Duration::from_secs(10));
    drop(api);
    pool.close().await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_its_commit_leaves_a_done_task_that_never_runs_again() {
    let _serial = one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_checkout_commit");
    let stripe = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let api = spawn_api(&db, &["--checkout-wait-ms", "0"]).await;
    let pool = pool(&db).await;
    let mut worker = spawn_worker(&db, &stripe.base_url(), &WORKER_ARGS).await;
    let http = reqwest::Client::new();

    stripe.hold_session_answers();
    let posted = post_checkout(&http, &api.base_url, "after@example.com", "cc-2").await;
    assert_eq!(posted.status, 202, "{}", posted.body);
    let order_id = posted.order_id.expect("an order id");
    wait_until(
        "the worker asks Stripe",
        Duration::from_secs(20),
        || async { stripe.sessions_created_for(&order_id) == 1 },
    )
    .await;
    // Hold the task's row: whatever of the task's end waits on it cannot commit until this
    // transaction ends, so the order's state in between is what a kill there would leave.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM apalis.jobs WHERE idempotency_key = 'checkout:' || $1 FOR UPDATE")
        .bind(&order_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    stripe.release_session_answers();
    wait_until(
        "the worker waits on the task's row",
        Duration::from_secs(20),
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
                > 0
        },
    )
    .await;
    let waiting = books(&pool, &order_id).await;
    assert_eq!(
        waiting["session"],
        Value::Null,
        "the session was committed apart from the task's completion: {waiting}"
    );
    holder.rollback().await.unwrap();

    // The commit lands; the worker is killed at once after it.
    wait_until("the commit", Duration::from_secs(20), || async {
        !books(&pool, &order_id).await["session"].is_null()
    })
    .await;
    worker.kill();
    let at_kill = books(&pool, &order_id).await;
    assert_eq!(
        at_kill["task"], "Done",
        "committed with its completion: {at_kill}"
    );

    // A new worker (the killed one's claims handed back in 15-20 s) serves a new order, and
    // the first one is never run again.
    let mut worker = spawn_worker(&db, &stripe.base_url(), &WORKER_ARGS).await;
    let next = post_checkout(&http, &api.base_url, "next@example.com", "cc-3").await;
    let next_id = next.order_id.expect("an order id");
    wait_until("the next order served", Duration::from_secs(30), || async {
        books(&pool, &next_id).await["task"] == "Done"
    })
    .await;
    wait_until(
        "the killed worker declared dead",
        Duration::from_secs(60),
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM apalis.workers WHERE last_seen < now() - interval '20 seconds'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
                > 0
        },
    )
    .await;
    let end = books(&pool, &order_id).await;
    crate::report!(
        "[faults/checkout_crash] after: creates={} books={end} elapsed_s={:.1}",
        session_creates(&stripe),
        started.elapsed().as_secs_f64()
    );
    assert_one_of_each(&stripe, &order_id, &end);
    assert_eq!(end["attempts"], 1, "never run again: {end}");
    assert_eq!(session_creates(&stripe), 2, "one call per order");

    worker.terminate(Duration::from_secs(10));
    drop(api);
    pool.close().await;
    drop_database(&db).await;
}
