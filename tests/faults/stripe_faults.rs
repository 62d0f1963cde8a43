//! Stripe misbehaving: 20 % 500s, 5 % hangs beyond the client timeout, a 25/s rate limit.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use stripe_standin::{Faults, StandIn, StandInConfig};

use crate::helpers::*;

const CHECKOUTS: usize = 200;
const CLIENT_TIMEOUT_MS: u64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stripe_errors_hangs_and_rate_limits_delay_but_never_lose_or_duplicate_a_checkout() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_stripe");
    let stripe = StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in");
    stripe.set_faults(Faults {
        error_rate: 0.20,
        error_status: 500,
        hang_rate: 0.05,
        hang_for: Duration::from_millis(3 * CLIENT_TIMEOUT_MS),
        rate_limit_per_sec: Some(25),
    });
    let api = spawn_api(&db, &["--checkout-wait-ms", "100"]).await;
    let pool = pool(&db).await;
    // The worker's own cap stays at its default (above Stripe's 25/s test-mode limit), so
    // that 429s really happen and are backed off from.
    let timeout = CLIENT_TIMEOUT_MS.to_string();
    let worker = spawn_worker(
        &db,
        &stripe.base_url(),
        &[
            "--concurrency",
            "16",
            "--stripe-timeout-ms",
            &timeout,
            "--max-retries",
            "40",
            "--retry-base-ms",
            "100",
            "--retry-cap-ms",
            "2000",
        ],
    )
    .await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let posted: Vec<Posted> = stream::iter(0..CHECKOUTS)
        .map(|i| {
            let (http, base_url) = (http.clone(), api.base_url.clone());
            async move {
                post_checkout(
                    &http,
                    &base_url,
                    &format!("stripefault{i}@example.com"),
                    &format!("stripefault-{i}"),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let acked: Vec<String> = posted
        .iter()
        .filter(|p| (200..300).contains(&p.status))
        .filter_map(|p| p.order_id.clone())
        .collect();
    let completed = wait_for_completion(&pool, &acked, Duration::from_secs(120)).await;
    let two_jobs = orders_with_two_jobs(&pool).await;
    let sessions = stripe.sessions();
    let two_sessions = orders_with_two_sessions(&sessions);
    let mismatched = sessions_mismatched(&pool, &sessions).await;
    let (attempts, dead): (i64, i64) = sqlx::query_as(
        r#"
        SELECT COALESCE(sum(attempts), 0)::int8,
               count(*) FILTER (WHERE status = 'Killed' OR
                                (status = 'Failed' AND attempts >= max_attempts))
        FROM apalis.jobs
        "#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    crate::report!(
        "[faults/stripe] checkouts={} acked={} completed={completed} \
         stripe_create_calls={} stripe_429s={} stripe_peak_calls_per_s={} \
         task_attempts={attempts} dead_tasks={dead} orders_with_two_jobs={two_jobs} \
         orders_with_two_sessions={two_sessions} stored_session_mismatch={mismatched} \
         elapsed_s={:.1}",
        posted.len(),
        acked.len(),
        stripe.create_calls(),
        stripe.rate_limited_count(),
        stripe.calls_per_second_peak(),
        started.elapsed().as_secs_f64(),
    );

    assert_eq!(acked.len(), CHECKOUTS, "every checkout is acknowledged");
    assert_eq!(
        completed,
        acked.len() as i64,
        "every order completes (worker log: {})",
        worker.log.display()
    );
    assert_eq!(two_jobs, 0);
    assert_eq!(two_sessions, 0);
    assert_eq!(mismatched, 0);

    drop(worker);
    drop(api);
    pool.close().await;
    drop_database(&db).await;
}
