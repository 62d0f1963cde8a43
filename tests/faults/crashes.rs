//! The worker SIGKILLed three times during a burst of 500 checkouts, restarted each time.

use std::time::{Duration, Instant};

use stripe_standin::{StandIn, StandInConfig};

use crate::helpers::*;

const CHECKOUTS: usize = 500;
/// Offered rate of the burst: 500 checkouts over 4 s, so that the kills fall inside it.
const RATE_PER_SEC: u64 = 125;
const KILLS_AT_MS: [u64; 3] = [700, 1_700, 2_700];

fn worker_args() -> Vec<&'static str> {
    vec![
        "--concurrency",
        "16",
        "--stripe-timeout-ms",
        "2000",
        "--retry-base-ms",
        "50",
        "--retry-cap-ms",
        "1000",
        "--stripe-max-rps",
        "1000",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_three_times_during_a_burst_loses_and_duplicates_nothing() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_crash");
    // Some latency, so that kills land while Stripe calls are in flight.
    let stripe = StandIn::spawn(StandInConfig {
        latency: Duration::from_millis(20),
        ..StandInConfig::default()
    })
    .await
    .expect("stand-in");
    let api = spawn_api(&db, &["--checkout-wait-ms", "200"]).await;
    let pool = pool(&db).await;
    let mut worker = spawn_worker(&db, &stripe.base_url(), &worker_args()).await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let base_url = api.base_url.clone();
    let burst_started = Instant::now();
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SEC));
        let mut requests = Vec::with_capacity(CHECKOUTS);
        for i in 0..CHECKOUTS {
            tick.tick().await;
            let (http, base_url) = (http.clone(), base_url.clone());
            requests.push(tokio::spawn(async move {
                post_checkout(
                    &http,
                    &base_url,
                    &format!("crash{i}@example.com"),
                    &format!("crash-{i}"),
                )
                .await
            }));
        }
        let sent_by = burst_started.elapsed();
        let mut posted = Vec::with_capacity(CHECKOUTS);
        for r in requests {
            posted.push(r.await.expect("request task"));
        }
        (posted, sent_by)
    });

    let mut kills = Vec::new();
    for at in KILLS_AT_MS {
        tokio::time::sleep_until((burst_started + Duration::from_millis(at)).into()).await;
        worker.kill();
        kills.push(burst_started.elapsed());
        tokio::time::sleep(Duration::from_millis(150)).await;
        worker = spawn_worker(&db, &stripe.base_url(), &worker_args()).await;
    }
    let (posted, sent_by) = sender.await.expect("sender");

    let acked: Vec<String> = posted
        .iter()
        .filter(|p| (200..300).contains(&p.status))
        .filter_map(|p| p.order_id.clone())
        .collect();
    let ok200 = posted.iter().filter(|p| p.status == 200).count();
    let ok202 = posted.iter().filter(|p| p.status == 202).count();
    let failed = posted.len() - ok200 - ok202;
    // A killed worker's claimed tasks come back after heartbeat × missed heartbeats (15–20 s).
    let completed = wait_for_completion(&pool, &acked, Duration::from_secs(90)).await;
    let two_jobs = orders_with_two_jobs(&pool).await;
    let sessions = stripe.sessions();
    let two_sessions = orders_with_two_sessions(&sessions);
    let mismatched = sessions_mismatched(&pool, &sessions).await;
    let retried: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM apalis.jobs WHERE attempts > 1"#)
        .fetch_one(&pool)
        .await
        .unwrap();

    crate::report!(
        "[faults/crashes] checkouts={} acked_200={ok200} acked_202={ok202} not_acked={failed} \
         kills={} at_ms={:?} burst_sent_by_ms={} completed={completed}/{} \
         orders_with_two_jobs={two_jobs} orders_with_two_sessions={two_sessions} \
         stored_session_mismatch={mismatched} stripe_create_calls={} tasks_retried={retried} \
         elapsed_s={:.1}",
        posted.len(),
        kills.len(),
        kills.iter().map(|d| d.as_millis()).collect::<Vec<_>>(),
        sent_by.as_millis(),
        acked.len(),
        stripe.create_calls(),
        started.elapsed().as_secs_f64(),
    );

    assert_eq!(posted.len(), CHECKOUTS);
    assert_eq!(
        failed, 0,
        "every checkout is acknowledged: the api was never killed"
    );
    assert!(kills.len() >= 3);
    assert!(
        kills.iter().all(|k| *k < sent_by),
        "every kill falls inside the burst"
    );
    assert_eq!(
        completed,
        acked.len() as i64,
        "every acknowledged order completes (worker log: {})",
        worker.log.display()
    );
    assert_eq!(two_jobs, 0);
    assert_eq!(two_sessions, 0);
    assert_eq!(mismatched, 0);

    worker.terminate(Duration::from_secs(10));
    drop(api);
    pool.close().await;
    drop_database(&db).await;
}
