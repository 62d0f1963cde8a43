//! Scenarios 3 and 4 of issue 24, through the proxy in front of a throwaway cluster:
//! every connection stalled (sockets kept, nothing forwarded) for longer than the api's
//! request timeout, then healed; and every connection cut again and again mid-transaction.
//! Answers stay bounded, nothing is half-written or duplicated, in-flight tasks end as
//! outages (never counted towards their death), and everything resumes unaided.

use std::time::{Duration, Instant};

use crate::{
    helpers::*,
    load::{self, Load},
    proxy::Proxy,
};

const RATE_PER_SEC: u64 = 20;
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Longer than the request timeout, and than the worker's task timeout.
const STALL_FOR: Duration = Duration::from_secs(5);
const CUTS: usize = 8;
const CUT_EVERY: Duration = Duration::from_millis(400);

/// A cluster behind a proxy, the api and the worker on it with short bounds.
struct Setup {
    _cluster: Cluster,
    proxy: Proxy,
    db: String,
    stripe: stripe_standin::StandIn,
    api: Api,
    worker: Proc,
    /// The worker's `/metrics`.
    worker_metrics: String,
}

async fn setup(name: &str) -> Setup {
    let (cluster, _, stripe) = throwaway_cluster_and_stripe().await;
    let proxy = Proxy::start(cluster.port).await;
    let db = format!("{}/{name}", proxy.server_url());
    let timeout = REQUEST_TIMEOUT_MS.to_string();
    let bounds = ["--database-acquire-timeout-ms", "1000"];
    let mut api_args = vec![
        "--checkout-wait-ms",
        "500",
        "--request-timeout-ms",
        &timeout,
    ];
    api_args.extend(bounds);
    let api = spawn_api(&db, &api_args).await;
    let stripe_base = stripe.base_url();
    let mut worker_args = vec!["--database-url", &db, "--create-database"];
    worker_args.extend(["--stripe-secret-key", "sk_test_fault_suite"]);
    worker_args.extend(["--stripe-api-base", &stripe_base]);
    worker_args.extend(["--retry-base-ms", "100", "--retry-cap-ms", "1000"]);
    worker_args.extend(["--task-timeout-ms", "2000", "--max-retries", "3"]);
    worker_args.extend(bounds);
    let metrics_bind = format!("127.0.0.1:{}", free_port());
    let env = [("WORKER_METRICS_BIND", metrics_bind.as_str())];
    let worker = spawn_worker_with(&worker_args, &env).await;
    Setup {
        _cluster: cluster,
        proxy,
        db,
        stripe,
        api,
        worker,
        worker_metrics: format!("http://{metrics_bind}/metrics"),
    }
}

/// Failed task attempts the worker counted as outages (never towards a task's death).
async fn outage_failures(metrics_url: &str) -> u64 {
    let text = reqwest::get(metrics_url)
        .await
        .expect("worker metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with("h2s_outbox_task_failures_total") && l.contains("outage"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Tasks dead (retries exhausted, or killed), and the most attempts any task made.
async fn dead_tasks(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        r#"
        SELECT count(*) FROM apalis.jobs
        WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)
        "#,
    )
    .fetch_one(pool)
    .await
    .expect("dead tasks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_network_gets_bounded_answers_and_everything_resumes_when_it_heals() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let mut s = setup("h2s_stall").await;
    let (api_pid, worker_pid) = (s.api.proc.pid(), s.worker.pid());
    // Slow Stripe: tasks are in flight when the stall begins, and need the database after.
    s.stripe.set_latency(Duration::from_millis(1500));
    let flow = Load::start(&s.api.base_url, RATE_PER_SEC, "stall");
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.proxy.stall(true);
    let stall_from = flow.now();
    tokio::time::sleep(STALL_FOR).await;
    s.proxy.stall(false);
    let healed = flow.now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let results = flow.stop().await;

    let during: Vec<&load::Sent> = load::in_window(&results, stall_from, healed).collect();
    let slowest = during
        .iter()
        .map(|s| s.posted.latency)
        .max()
        .unwrap_or_default();
    let unexpected = load::unexpected(&results, Duration::ZERO, Duration::MAX);
    let recover_s = load::seconds_to_recover(&results, healed);
    let acked = load::acked_ids(&results);
    let pool = pool(&s.db).await;
    let completed = wait_for_completion(&pool, &acked, Duration::from_secs(60)).await;
    let half_written = load::orders_without_task(&pool).await;
    let dead = dead_tasks(&pool).await;
    let outages = outage_failures(&s.worker_metrics).await;
    let timed_out = s
        .worker
        .log_text()
        .matches("outbox task attempt timed out")
        .count();
    let alive = s.api.proc.alive()
        && s.api.proc.pid() == api_pid
        && s.worker.alive()
        && s.worker.pid() == worker_pid;

    crate::report!(
        "[faults/stall] requests={} acknowledged={} lost={} 503s={} during_stall={} \
         slowest_answer_during_stall_ms={} unexpected_answers={unexpected} \
         seconds_to_recover={recover_s:.1} half_written={half_written} dead_tasks={dead} \
         task_outages={outages} task_attempts_timed_out={timed_out} restarted_processes={} elapsed_s={:.1}",
        results.len(),
        acked.len(),
        acked.len() as i64 - completed,
        load::count_503(&results),
        during.len(),
        slowest.as_millis(),
        usize::from(!alive),
        started.elapsed().as_secs_f64(),
    );

    let bound = Duration::from_millis(REQUEST_TIMEOUT_MS + 1_000);
    assert!(
        slowest <= bound,
        "answers during the stall within {bound:?}, got {slowest:?}"
    );
    assert!(
        during.iter().any(|s| s.posted.status == 503),
        "the stall was seen as 503s"
    );
    assert_eq!(unexpected, 0, "only 2xx and 503 answers, none dropped");
    assert!(
        recover_s <= 5.0,
        "recovered in {recover_s:.1} s after the heal"
    );
    assert_eq!(
        completed,
        acked.len() as i64,
        "every acknowledged checkout completes"
    );
    assert_eq!(half_written, 0, "no order without its outbox task");
    assert!(outages > 0, "tasks in flight at the stall ended as outages");
    assert_eq!(dead, 0, "no task died of the stall");
    assert!(alive, "no process was restarted");
    s.worker.terminate(Duration::from_secs(10));
    s.api.proc.terminate(Duration::from_secs(10));
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_reset_mid_transaction_leave_no_partial_writes_and_no_duplicates() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let mut s = setup("h2s_resets").await;
    let (api_pid, worker_pid) = (s.api.proc.pid(), s.worker.pid());
    s.stripe.set_latency(Duration::from_millis(100));
    let flow = Load::start(&s.api.base_url, RATE_PER_SEC, "reset");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..CUTS {
        s.proxy.cut();
        tokio::time::sleep(CUT_EVERY).await;
    }
    let last_cut = flow.now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let results = flow.stop().await;

    let acked = load::acked_ids(&results);
    let unexpected = load::unexpected(&results, Duration::ZERO, Duration::MAX);
    let recover_s = load::seconds_to_recover(&results, last_cut);
    let pool = pool(&s.db).await;
    let completed = wait_for_completion(&pool, &acked, Duration::from_secs(60)).await;
    let half_written = load::orders_without_task(&pool).await;
    let two_jobs = orders_with_two_jobs(&pool).await;
    let sessions = s.stripe.sessions();
    let two_sessions = orders_with_two_sessions(&sessions);
    let mismatched = sessions_mismatched(&pool, &sessions).await;
    let dead = dead_tasks(&pool).await;
    let alive = s.api.proc.alive()
        && s.api.proc.pid() == api_pid
        && s.worker.alive()
        && s.worker.pid() == worker_pid;

    crate::report!(
        "[faults/resets] requests={} acknowledged={} lost={} 503s={} cuts={CUTS} \
         connections_opened={} unexpected_answers={unexpected} seconds_to_recover={recover_s:.1} \
         half_written={half_written} orders_with_two_jobs={two_jobs} \
         orders_with_two_sessions={two_sessions} sessions_mismatched={mismatched} \
         dead_tasks={dead} restarted_processes={} elapsed_s={:.1}",
        results.len(),
        acked.len(),
        acked.len() as i64 - completed,
        load::count_503(&results),
        s.proxy.opened(),
        usize::from(!alive),
        started.elapsed().as_secs_f64(),
    );

    assert!(
        s.proxy.opened() > CUTS,
        "the processes reconnected after the cuts"
    );
    assert_eq!(unexpected, 0, "only 2xx and 503 answers, none dropped");
    assert!(
        recover_s <= 5.0,
        "recovered in {recover_s:.1} s after the last cut"
    );
    assert_eq!(
        completed,
        acked.len() as i64,
        "every acknowledged checkout completes"
    );
    assert_eq!(half_written, 0, "no order without its outbox task");
    assert_eq!(
        (two_jobs, two_sessions, mismatched),
        (0, 0, 0),
        "no duplicates"
    );
    assert_eq!(dead, 0, "no task died of the resets");
    assert!(alive, "no process was restarted");
    s.worker.terminate(Duration::from_secs(10));
    s.api.proc.terminate(Duration::from_secs(10));
    pool.close().await;
}
