//! SIGTERM mid-work (issue 10): `reconcile --once` stops between two repairs with an
//! `interrupted` report and exit 0, leaving no half-made repair; the next run does the rest.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

const ORPHANS: i64 = 3_000;

/// Paid orders as an older system wrote them: no job, no recipient.
async fn insert_orphans(pool: &PgPool) {
    sqlx::query(
        r#"
        INSERT INTO h2s_orders (order_id, status, customer_email, customer_name, metadata_json,
                                created_at)
        SELECT 'LEGACY-' || lpad(g::text, 6, '0'), 'paid', 'legacy' || (g % 50) || '@example.com',
               'Legacy Customer', jsonb_build_object('service_address', g || ' Old Road'),
               now() - interval '30 days'
        FROM generate_series(1, $1) AS g
        "#,
    )
    .bind(ORPHANS)
    .execute(pool)
    .await
    .expect("orphans");
}

async fn jobs(pool: &PgPool) -> i64 {
    sqlx::query_scalar(r#"SELECT count(*) FROM h2s_dispatch_jobs"#)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Repairs left half-made: a job its order does not name (in the column and the metadata), or
/// not `ready`; an order naming a job that is not its own.
async fn half_made(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        r#"
        SELECT
          (SELECT count(*) FROM h2s_dispatch_jobs j JOIN h2s_orders o USING (order_id)
           WHERE o.dispatch_job_id IS DISTINCT FROM j.job_id
              OR o.metadata_json->>'dispatch_job_id' IS DISTINCT FROM j.job_id::text
              OR j.status <> 'ready')
          +
          (SELECT count(*) FROM h2s_orders o
           WHERE o.dispatch_job_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM h2s_dispatch_jobs j
                             WHERE j.job_id = o.dispatch_job_id AND j.order_id = o.order_id))
        "#,
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

fn sweep(db: &str, stripe_api_base: &str) -> Proc {
    Proc::spawn_with_env(
        "reconcile",
        env!("CARGO_BIN_EXE_reconcile"),
        &[
            "--once".into(),
            "--json".into(),
            "--batch-size".into(),
            "50".into(),
            "--database-url".into(),
            db.into(),
            "--stripe-secret-key".into(),
            "sk_test_shutdown".into(),
            // Orphans need no Stripe call, but every sweep lists Stripe's events once.
            "--stripe-api-base".into(),
            stripe_api_base.into(),
        ],
        &[],
    )
}

/// The JSON report among the process's output lines.
fn report(proc: &Proc) -> Value {
    proc.log_text()
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .unwrap_or_else(|| panic!("no JSON report:\n{}", proc.log_tail(20)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_once_stopped_by_sigterm_mid_sweep_reports_interrupted_exits_zero_and_leaves_nothing_half_made()
 {
    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_sigterm");
    let pool = h2s_dispatch::db::connect_and_migrate(&db, 4)
        .await
        .expect("database");
    insert_orphans(&pool).await;
    let stripe = stripe_standin::StandIn::spawn(Default::default())
        .await
        .expect("stand-in");

    let mut first = sweep(&db, &stripe.base_url());
    // SIGTERM once the sweep is under way (some jobs made), well before it could end.
    let end = Instant::now() + Duration::from_secs(60);
    while jobs(&pool).await < 20 {
        assert!(
            first.alive(),
            "the sweep ended early:\n{}",
            first.log_tail(20)
        );
        assert!(Instant::now() < end, "the sweep never started repairing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let code = first.terminate(Duration::from_secs(20));
    let made_then = jobs(&pool).await;
    let first_report = report(&first);

    assert_eq!(code, Some(0), "{}", first.log_tail(20));
    assert_eq!(first_report["interrupted"], true, "{first_report}");
    let repaired = first_report["orphans_repaired"].as_i64().unwrap();
    assert!(
        repaired < ORPHANS,
        "the sweep was not interrupted: {first_report}"
    );
    assert_eq!(repaired, made_then, "the report counts what was made");
    assert_eq!(half_made(&pool).await, 0, "no half-made repair");

    // The lock went with the process: the next run does the rest.
    let mut second = sweep(&db, &stripe.base_url());
    let code = second.exit_code_within(Duration::from_secs(120)).await;
    assert_eq!(code, Some(0), "{}", second.log_tail(20));
    let second_report = report(&second);
    assert_eq!(second_report["skipped"], false);
    assert_eq!(
        second_report["orphans_repaired"].as_i64().unwrap(),
        ORPHANS - repaired
    );
    assert_eq!(jobs(&pool).await, ORPHANS);
    assert_eq!(half_made(&pool).await, 0);

    crate::report!(
        "[faults/shutdown] reconcile --once SIGTERMed after {repaired}/{ORPHANS} repairs: exit 0, interrupted, 0 half-made; next run repaired {}",
        ORPHANS - repaired
    );
    pool.close().await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sigtermed_with_tasks_in_flight_finishes_them_exits_zero_and_leaves_nothing_claimed()
 {
    use stripe_standin::{StandIn, StandInConfig};

    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_worker_term");
    let stripe = StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in");
    // Slow Stripe: the tasks are in flight when the signal comes.
    stripe.set_latency(Duration::from_millis(1_500));
    let api = spawn_api(&db, &["--checkout-wait-ms", "0"]).await;
    let http = reqwest::Client::new();
    let mut orders = vec![];
    for i in 0..12 {
        let p = post_checkout(
            &http,
            &api.base_url,
            &format!("t{i}@example.com"),
            &format!("t-{i}"),
        )
        .await;
        assert_eq!(p.status, 202, "{:?}", p.body);
        orders.push(p.order_id.unwrap());
    }
    let mut worker = spawn_worker(&db, &stripe.base_url(), &["--concurrency", "4"]).await;
    let end = Instant::now() + Duration::from_secs(30);
    while stripe.create_calls() == 0 {
        assert!(Instant::now() < end, "the worker never called Stripe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let code = worker.terminate(Duration::from_secs(45));
    let took = started.elapsed();

    let pool = pool(&db).await;
    let claimed: i64 = sqlx::query_scalar(
        r#"SELECT count(*) FROM apalis.jobs WHERE status IN ('Queued', 'Running') OR lock_by IS NOT NULL AND status = 'Pending'"#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let completed = completed_among(&pool, &orders).await;
    assert_eq!(code, Some(0), "{}", worker.log_tail(20));
    assert_eq!(claimed, 0, "tasks left claimed by the stopped worker");
    assert!(completed >= 1, "the tasks in flight were finished");

    // A new worker completes the rest.
    let mut next = spawn_worker(&db, &stripe.base_url(), &["--concurrency", "4"]).await;
    let done = wait_for_completion(&pool, &orders, Duration::from_secs(60)).await;
    assert_eq!(done, orders.len() as i64);
    crate::report!(
        "[faults/shutdown] worker SIGTERMed with tasks in flight: exit 0 in {} ms, {completed} finished, 0 left claimed; next worker completed {done}",
        took.as_millis()
    );
    next.terminate(Duration::from_secs(10));
    drop(api);
    pool.close().await;
    drop_database(&db).await;
}
