//! Issue 25's point: a refund after dispatch reaches the dispatch side at once. The receiver
//! gets `job.cancelled` with reason `refunded` within a second of Stripe's webhook (p99 over
//! the runs, in BENCHMARKS.md), verified by the Standard Webhooks reference library.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    event_delivery::start_loop,
    event_feed::{Behaviour, Receiver, case, percentile, reference_verify},
    event_steps::spawn_feed_app,
    money::{deliver, paid_order},
};

const RUNS: usize = 20;

/// When the receiver first accepted `job.cancelled` for `order_id`, and that request.
fn cancelled_for(receiver: &Receiver, order_id: &str) -> Option<crate::event_feed::Received> {
    receiver.received().into_iter().find(|r| {
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        r.accepted && body["type"] == "job.cancelled" && body["data"]["order_id"] == order_id
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_after_dispatch_reaches_the_receiver_as_job_cancelled_refunded_within_a_second() {
    let app = spawn_feed_app().await;
    let stop = start_loop(
        &app.pool,
        h2s_dispatch::events::delivery::settings::SVIX_SCHEDULE.to_vec(),
    );
    let receiver = Receiver::start(Behaviour::Accept).await;
    let created = app
        .create_endpoint(&json!({"url": receiver.url, "event_types": ["job.cancelled"]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let mut latencies = vec![];
    let mut cases = vec![];
    for run in 0..RUNS {
        let (order_id, session_id) =
            paid_order(&app, &format!("feed-fast-{run}@example.com")).await;
        assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
        let refund = app.stripe.refund_silently(&session_id, None).unwrap();
        let sent = Instant::now();
        for event in &refund {
            deliver(&app, event).await;
        }
        let end = sent + Duration::from_secs(10);
        let got = loop {
            if let Some(got) = cancelled_for(&receiver, &order_id) {
                break got;
            }
            assert!(Instant::now() < end, "no job.cancelled for {order_id}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        latencies.push(got.at - sent);
        let body: Value = serde_json::from_str(&got.body).unwrap();
        assert_eq!(body["data"]["reason"], "refunded");
        assert_eq!(body["data"]["job_status"], "cancelled");
        cases.push(case(&secret, &got, &got.body, true));
    }
    let (p50, p99) = (
        percentile(&mut latencies, 50.0),
        percentile(&mut latencies, 99.0),
    );
    eprintln!(
        "[events/refund] {RUNS} refunds after dispatch: Stripe's webhook sent → job.cancelled \
         (refunded) received p50 {p50:?} p99 {p99:?} max {:?}",
        latencies.last().unwrap()
    );
    assert!(reference_verify(&cases).iter().all(|ok| *ok));
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    stop.stop();
    app.shutdown().await;
}
