//! The database turns read-only under running processes (as a standby does after a failover,
//! here a throwaway cluster switched to `default_transaction_read_only`): checkouts and
//! webhooks answer 503 with nothing written, both processes say not ready, the worker waits
//! without burning its tasks' attempts, and everything recovers unaided once it is writable.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use stripe_standin::{PaymentStatus, WebhookTarget};

use crate::helpers::*;

/// How long the database stays read-only: longer than the worker's whole retry budget
/// (3 attempts, 50 ms → 200 ms backoff), so burnt attempts would kill tasks.
const READ_ONLY_FOR: Duration = Duration::from_secs(6);
/// Orders acknowledged while Stripe is slow: their tasks are in flight at the switch.
const IN_FLIGHT: usize = 6;

/// Switches the whole cluster (every session's next transaction) read-only, or back. The
/// admin session itself stays writable, so that it can switch back.
async fn set_read_only(admin: &mut PgConnection, on: bool) {
    let change = if on {
        "ALTER SYSTEM SET default_transaction_read_only = on"
    } else {
        "ALTER SYSTEM RESET default_transaction_read_only"
    };
    for sql in [change, "SELECT pg_reload_conf()"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

async fn status_of(http: &reqwest::Client, url: String) -> u16 {
    http.get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Waits until `url` answers `want`, or `deadline` passes; returns the last status.
async fn wait_for_status(http: &reqwest::Client, url: &str, want: u16, deadline: Duration) -> u16 {
    let end = Instant::now() + deadline;
    loop {
        let got = status_of(http, url.to_owned()).await;
        if got == want || Instant::now() > end {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One text column of one order.
async fn order_column(pool: &sqlx::PgPool, order_id: &str, column: &str) -> String {
    let sql = format!("SELECT {column} FROM h2s_orders WHERE order_id = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{column} of {order_id}: {e}"))
}

/// Tasks that are dead (retries exhausted, or killed), and the most attempts any task made.
async fn dead_and_most_attempts(pool: &sqlx::PgPool) -> (i64, i32) {
    sqlx::query_as(
        r#"
        SELECT count(*) FILTER (WHERE status = 'Killed' OR
                                (status = 'Failed' AND attempts >= max_attempts)),
               COALESCE(max(attempts), 0)
        FROM apalis.jobs
        "#,
    )
    .fetch_one(pool)
    .await
    .expect("outbox counts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_database_gets_503s_and_no_writes_and_every_acknowledged_order_completes() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let (_cluster, db, stripe) = throwaway_cluster_and_stripe().await;
    let mut api = spawn_api(&db, &["--checkout-wait-ms", "500"]).await;
    stripe.set_webhook_target(WebhookTarget {
        url: format!("{}/api/stripe-webhook", api.base_url),
        secret: WEBHOOK_SECRET.into(),
    });
    let worker_probe = format!("127.0.0.1:{}", free_port());
    let mut worker = spawn_worker_with(
        &[
            "--database-url",
            &db,
            "--stripe-secret-key",
            "sk_test_fault_suite",
            "--stripe-api-base",
            &stripe.base_url(),
            "--create-database",
            "--max-retries",
            "2",
            "--retry-base-ms",
            "50",
            "--retry-cap-ms",
            "200",
        ],
        &[("WORKER_METRICS_BIND", &worker_probe)],
    )
    .await;
    let (api_pid, worker_pid) = (api.proc.pid(), worker.pid());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let api_ready = format!("{}/readyz", api.base_url);
    let worker_ready = format!("http://{worker_probe}/readyz");
    assert_eq!(
        wait_for_status(&http, &worker_ready, 200, Duration::from_secs(30)).await,
        200
    );

    // One order completes while writable: its payment's webhook comes during the outage.
    let pool = pool(&db).await;
    let first = post_checkout(&http, &api.base_url, "ro-first@example.com", "ro-first").await;
    assert!((200..300).contains(&first.status), "{:?}", first.body);
    let first_id = first.order_id.clone().expect("order id");
    let mut acked = vec![first_id.clone()];
    assert_eq!(
        wait_for_completion(&pool, &acked, Duration::from_secs(30)).await,
        1
    );
    let first_session = order_column(&pool, &first_id, "stripe_session_id").await;

    // Stripe slows down: these orders are acknowledged, their tasks still in flight.
    stripe.set_latency(Duration::from_millis(1500));
    let slow = futures::future::join_all((0..IN_FLIGHT).map(|i| {
        let (http, base_url) = (http.clone(), api.base_url.clone());
        async move {
            post_checkout(
                &http,
                &base_url,
                &format!("ro{i}@example.com"),
                &format!("ro-{i}"),
            )
            .await
        }
    }))
    .await;
    for p in slow {
        assert!((200..300).contains(&p.status), "{:?}", p.body);
        acked.push(p.order_id.expect("order id"));
    }

    let mut admin = PgConnection::connect(&db).await.expect("admin connection");
    sqlx::raw_sql("SET default_transaction_read_only = off")
        .execute(&mut admin)
        .await
        .unwrap();
    set_read_only(&mut admin, true).await;
    let switched = Instant::now();
    let written_before = rows_written(&pool).await;

    // While read-only: probes, a checkout, a webhook, a read.
    let api_ready_ro = wait_for_status(&http, &api_ready, 503, Duration::from_secs(10)).await;
    let worker_ready_ro = wait_for_status(&http, &worker_ready, 503, Duration::from_secs(10)).await;
    let refused = post_checkout(&http, &api.base_url, "ro-late@example.com", "ro-late").await;
    let delivery = stripe
        .complete_session(&first_session, PaymentStatus::Paid)
        .await
        .expect("webhook delivery");
    let read = status_of(&http, format!("{}/api/orders/{first_id}", api.base_url)).await;
    stripe.set_latency(Duration::ZERO);
    tokio::time::sleep_until((switched + READ_ONLY_FOR).into()).await;
    let written_during = rows_written(&pool).await - written_before;
    let (dead_during, _) = dead_and_most_attempts(&pool).await;
    let api_log_ro = api.proc.log_text();

    set_read_only(&mut admin, false).await;
    let recovered = Instant::now();
    let api_ready_after = wait_for_status(&http, &api_ready, 200, Duration::from_secs(30)).await;
    let worker_ready_after =
        wait_for_status(&http, &worker_ready, 200, Duration::from_secs(30)).await;
    let ready_in = recovered.elapsed();
    // Stripe redelivers the event the 503 refused.
    let redelivered = stripe
        .deliver(delivery.event.clone())
        .await
        .expect("redelivery");
    let retried = post_checkout(&http, &api.base_url, "ro-late@example.com", "ro-late").await;
    if let Some(id) = retried.order_id.clone() {
        acked.push(id);
    }
    let completed = wait_for_completion(&pool, &acked, Duration::from_secs(90)).await;
    let completed_in = recovered.elapsed();
    let first_status = order_column(&pool, &first_id, "status").await;
    let (dead_after, most_attempts) = dead_and_most_attempts(&pool).await;
    let two_jobs = orders_with_two_jobs(&pool).await;
    let two_sessions = orders_with_two_sessions(&stripe.sessions());
    let restarts = worker
        .log_text()
        .matches("the outbox worker failed: restarting")
        .count();
    let api_alive = api.proc.alive() && api.proc.pid() == api_pid;
    let worker_alive = worker.alive() && worker.pid() == worker_pid;

    crate::report!(
        "[faults/read_only] acked={} read_only_ms={} readyz_api={api_ready_ro} \
         readyz_worker={worker_ready_ro} checkout={} webhook={} read={read} \
         rows_written_while_read_only={written_during} dead_while_read_only={dead_during} \
         ready_again_ms={} readyz_after={api_ready_after}/{worker_ready_after} \
         redelivery={} retried_checkout={} completed={completed} completed_in_ms={} \
         first_order={first_status} dead_after={dead_after} most_attempts={most_attempts} \
         worker_restarts={restarts} orders_with_two_jobs={two_jobs} \
         orders_with_two_sessions={two_sessions} elapsed_s={:.1}",
        acked.len(),
        READ_ONLY_FOR.as_millis(),
        refused.status,
        delivery.status,
        ready_in.as_millis(),
        redelivered.status,
        retried.status,
        completed_in.as_millis(),
        started.elapsed().as_secs_f64(),
    );

    assert_eq!(api_ready_ro, 503, "the api is not ready while read-only");
    assert_eq!(
        worker_ready_ro, 503,
        "the worker is not ready while read-only"
    );
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert!(is_error_shape(&refused.body), "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], Value::from("unavailable"));
    assert_eq!(delivery.status, 503, "the webhook asks Stripe to redeliver");
    assert_eq!(read, 200, "reads are still served");
    assert_eq!(written_during, 0, "nothing is written while read-only");
    assert!(
        !api_log_ro.contains("internal error"),
        "a read-only database is an outage, not an internal error:\n{}",
        api.proc.log_tail(30)
    );
    assert_eq!(dead_during, 0);
    assert_eq!((api_ready_after, worker_ready_after), (200, 200));
    assert_eq!(redelivered.status, 200);
    assert!(
        (200..300).contains(&retried.status),
        "the refused checkout, retried, is taken: {:?}",
        retried.body
    );
    assert_eq!(
        completed,
        acked.len() as i64,
        "every acknowledged order completes (worker log: {}, api log: {})",
        worker.log.display(),
        api.proc.log.display()
    );
    assert_eq!(first_status, "paid", "the redelivered payment landed");
    assert_eq!(dead_after, 0, "no task died of the outage");
    assert!(api_alive && worker_alive, "recovered without a restart");
    assert_eq!(two_jobs, 0);
    assert_eq!(two_sessions, 0);

    worker.terminate(Duration::from_secs(10));
    api.proc.terminate(Duration::from_secs(10));
    pool.close().await;
}
