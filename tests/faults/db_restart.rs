//! Postgres restarted (its own throwaway cluster) while checkouts flow.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::helpers::*;

const RATE_PER_SEC: u64 = 20;
const FLOW_FOR: Duration = Duration::from_secs(16);
const STOP_AT: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(4);
/// During the outage every answer comes within this (the pool's acquire timeout is 3 s).
const ANSWER_BOUND: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_answers_503_while_postgres_restarts_and_every_acknowledged_order_completes() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let (cluster, db, stripe) = throwaway_cluster_and_stripe().await;
    let mut api = spawn_api(&db, &["--checkout-wait-ms", "500"]).await;
    let mut worker = spawn_worker(
        &db,
        &stripe.base_url(),
        &[
            "--concurrency",
            "8",
            "--retry-base-ms",
            "100",
            "--retry-cap-ms",
            "1000",
        ],
    )
    .await;
    let worker_pid = worker.pid();
    let api_pid = api.proc.pid();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // (sent at, what came back), for every request of the flow.
    let results: Arc<Mutex<Vec<(Duration, Posted)>>> = Arc::default();
    let flow_started = Instant::now();
    let flow = {
        let (http, base_url, results) = (http.clone(), api.base_url.clone(), results.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SEC));
            let mut requests = Vec::new();
            let mut i = 0;
            while flow_started.elapsed() < FLOW_FOR {
                tick.tick().await;
                i += 1;
                let (http, base_url, results) = (http.clone(), base_url.clone(), results.clone());
                requests.push(tokio::spawn(async move {
                    let sent = flow_started.elapsed();
                    let p = post_checkout(
                        &http,
                        &base_url,
                        &format!("restart{i}@example.com"),
                        &format!("restart-{i}"),
                    )
                    .await;
                    results.lock().unwrap().push((sent, p));
                }));
            }
            for r in requests {
                let _ = r.await;
            }
        })
    };

    tokio::time::sleep_until((flow_started + STOP_AT).into()).await;
    let cluster = Arc::new(cluster);
    let c = cluster.clone();
    let stop_began = flow_started.elapsed();
    tokio::task::spawn_blocking(move || c.stop()).await.unwrap();
    let down_at = flow_started.elapsed();
    // readyz during the outage: 503, promptly.
    let ready_started = Instant::now();
    let readyz_down = http
        .get(format!("{}/readyz", api.base_url))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let readyz_down_ms = ready_started.elapsed().as_millis();
    tokio::time::sleep_until((flow_started + down_at + OUTAGE).into()).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start())
        .await
        .unwrap();
    let up_at = flow_started.elapsed();
    flow.await.expect("flow");

    let results = results.lock().unwrap().clone();
    let acked: Vec<String> = results
        .iter()
        .filter(|(_, p)| (200..300).contains(&p.status))
        .filter_map(|(_, p)| p.order_id.clone())
        .collect();
    let during: Vec<&(Duration, Posted)> = results
        .iter()
        .filter(|(sent, _)| *sent >= stop_began && *sent < up_at)
        .collect();
    let during_503 = during.iter().filter(|(_, p)| p.status == 503).count();
    let during_2xx = during
        .iter()
        .filter(|(_, p)| (200..300).contains(&p.status))
        .count();
    let mut during_latencies: Vec<Duration> = during.iter().map(|(_, p)| p.latency).collect();
    let during_max = during_latencies.iter().max().copied().unwrap_or_default();
    let during_p50 = percentile(&mut during_latencies, 50.0);
    let non_503_5xx = results
        .iter()
        .filter(|(_, p)| p.status >= 500 && p.status != 503)
        .count();
    let bad_503_shape = results
        .iter()
        .filter(|(_, p)| p.status == 503 && !is_error_shape(&p.body))
        .count();
    let other_4xx = results
        .iter()
        .filter(|(_, p)| (400..500).contains(&p.status))
        .count();
    let transport_errors = results
        .iter()
        .filter(|(_, p)| p.transport_error.is_some())
        .count();
    // After recovery (2 s after the restart, to the end of the flow) everything is 2xx again.
    let after: Vec<&(Duration, Posted)> = results
        .iter()
        .filter(|(sent, _)| *sent >= up_at + Duration::from_secs(2))
        .collect();
    let after_2xx = after
        .iter()
        .filter(|(_, p)| (200..300).contains(&p.status))
        .count();

    let pool = pool(&db).await;
    let completed = wait_for_completion(&pool, &acked, Duration::from_secs(90)).await;
    let present: i64 =
        sqlx::query_scalar(r#"SELECT count(*) FROM h2s_orders WHERE order_id = ANY($1)"#)
            .bind(&acked)
            .fetch_one(&pool)
            .await
            .unwrap();
    let two_jobs = orders_with_two_jobs(&pool).await;
    let two_sessions = orders_with_two_sessions(&stripe.sessions());
    let readyz_after = http
        .get(format!("{}/readyz", api.base_url))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let api_alive = api.proc.alive() && api.proc.pid() == api_pid;
    let worker_alive = worker.alive() && worker.pid() == worker_pid;

    crate::report!(
        "[faults/db_restart] requests={} acked={} present={present} completed={completed} \
         stop_began_ms={} outage_ms={}..{} during_outage={} during_503={during_503} during_2xx={during_2xx} \
         during_p50_ms={} during_max_ms={} readyz_down={readyz_down} ({readyz_down_ms} ms) \
         non_503_5xx={non_503_5xx} bad_503_shape={bad_503_shape} other_4xx={other_4xx} \
         transport_errors={transport_errors} after_recovery_2xx={after_2xx}/{} \
         readyz_after={readyz_after} api_alive={api_alive} worker_alive={worker_alive} \
         orders_with_two_jobs={two_jobs} orders_with_two_sessions={two_sessions} \
         elapsed_s={:.1}",
        results.len(),
        acked.len(),
        stop_began.as_millis(),
        down_at.as_millis(),
        up_at.as_millis(),
        during.len(),
        during_p50.as_millis(),
        during_max.as_millis(),
        after.len(),
        started.elapsed().as_secs_f64(),
    );

    assert_eq!(
        present,
        acked.len() as i64,
        "every 2xx order is in the database"
    );
    assert_eq!(
        completed,
        acked.len() as i64,
        "every 2xx order completes (worker log: {}, api log: {})",
        worker.log.display(),
        api.proc.log.display()
    );
    assert!(during_503 > 0, "the outage was seen as 503s");
    assert_eq!(
        non_503_5xx,
        0,
        "no 5xx but 503 (api log: {})",
        api.proc.log.display()
    );
    assert_eq!(bad_503_shape, 0, "503s carry the error shape");
    assert_eq!(other_4xx, 0);
    assert_eq!(transport_errors, 0, "no request hangs or is dropped");
    assert!(
        during_max <= ANSWER_BOUND,
        "answers during the outage within {ANSWER_BOUND:?}, got {during_max:?}"
    );
    assert_eq!(readyz_down, 503);
    assert!(
        !after.is_empty() && after_2xx == after.len(),
        "the api recovered"
    );
    assert_eq!(readyz_after, 200);
    assert!(api_alive && worker_alive, "recovered without a restart");
    assert_eq!(two_jobs, 0);
    assert_eq!(two_sessions, 0);

    worker.terminate(Duration::from_secs(10));
    api.proc.terminate(Duration::from_secs(10));
    pool.close().await;
}
