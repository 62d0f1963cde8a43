//! Issue 25: the worker SIGKILLed while its event deliveries are in flight (the receiver
//! holds every request). The leases run out and the next worker sends them again with the
//! same `webhook-id`s: no event is lost.

use std::time::{Duration, Instant};

use crate::{
    event_feed::{Behaviour, Receiver, endpoint, event, new_secret, verify_all},
    helpers::*,
    report,
};

/// Waits until `f` holds, or panics after `deadline` with `what`.
async fn until(deadline: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !f().await {
        assert!(Instant::now() < end, "{what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_no_event() {
    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_events");
    let args = [
        "--event-endpoints-allow-private",
        "--event-delivery-timeout-ms",
        "2000",
    ];
    let mut first = spawn_worker(&db, "http://127.0.0.1:9", &args).await;
    until(Duration::from_secs(20), "the worker migrated", async || {
        let Ok(pool) = sqlx::PgPool::connect(&db).await else {
            return false;
        };
        let migrated = sqlx::query("SELECT 1 FROM h2s_event_deliveries LIMIT 1")
            .fetch_optional(&pool)
            .await
            .is_ok();
        pool.close().await;
        migrated
    })
    .await;
    let pool = pool(&db).await;
    let receiver = Receiver::start(Behaviour::Hold).await;
    let secret = new_secret();
    let to = endpoint(&pool, &receiver.url, &secret).await;
    let mut ids = vec![];
    for n in 0..20 {
        ids.push(event(&pool, &[to], n).await);
    }
    until(
        Duration::from_secs(10),
        "deliveries in flight",
        async || receiver.received_so_far() >= 4,
    )
    .await;
    first.kill();
    let held: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
    let killed_at = Instant::now();
    receiver.release();
    let _second = spawn_worker(&db, "http://127.0.0.1:9", &args).await;
    let after = |r: &crate::event_feed::Received| r.accepted && r.at > killed_at;
    until(
        Duration::from_secs(30),
        "every event delivered after the kill",
        async || {
            let got = receiver.received();
            ids.iter()
                .all(|id| got.iter().any(|r| &r.id == id && after(r)))
        },
    )
    .await;
    let got = receiver.received();
    let delivered = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM h2s_event_deliveries WHERE status = 'delivered'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    until(
        Duration::from_secs(10),
        "every delivery recorded",
        async || delivered().await == ids.len() as i64,
    )
    .await;
    let delivered = delivered().await;
    // Lost: an event no request of which the receiver accepted.
    let lost = ids
        .iter()
        .filter(|id| !got.iter().any(|r| &r.id == *id && r.accepted))
        .count();
    report!(
        "[faults/events-kill] events {} in flight when killed {} requests {} \
         (sent again with the same webhook-id: {}) delivered {delivered} lost {lost} in {:?}",
        ids.len(),
        held.len(),
        receiver.received_so_far(),
        receiver.received_so_far() - ids.len(),
        killed_at.elapsed()
    );
    assert_eq!(lost, 0);
    assert!(!held.is_empty());
    for id in &held {
        assert!(
            got.iter().any(|r| &r.id == id && after(r)),
            "{id} sent again"
        );
    }
    assert_eq!(delivered, ids.len() as i64);
    verify_all(&got, &secret);
    drop(pool);
    drop_database(&db).await;
}
