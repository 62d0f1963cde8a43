//! Issue 25, operating the delivery: the address check at connect time (no SSRF), an endpoint
//! failing for 5 days disabled with an operator alert, the delivery log's retention, and the
//! delivery metrics.

use std::time::Duration;

use h2s_dispatch::{
    app::Stop,
    events::{
        address::AddressPolicy,
        delivery::{self, DeliveryConfig, retention},
    },
};
use sqlx::PgPool;

use crate::{
    event_delivery::start_loop,
    event_feed::{Behaviour, Receiver, dead_url, endpoint, event, new_secret, verify_all},
    test_db::TestDatabase,
};

async fn last_error(pool: &PgPool, event_id: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT last_error FROM h2s_event_deliveries WHERE event_id = $1
         ORDER BY last_error IS NULL LIMIT 1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until a delivery of `event_id` has an error recorded; the error.
async fn first_error(pool: &PgPool, event_id: &str) -> String {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = last_error(pool, event_id).await {
            return e;
        }
        assert!(std::time::Instant::now() < end, "no attempt recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_loopback_is_never_connected_to_by_address_or_by_name() {
    let db = TestDatabase::migrated(10).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let stop = Stop::default();
    let config = DeliveryConfig::new(AddressPolicy::default());
    tokio::spawn(delivery::run(db.pool.clone(), config, stop.stopped()));
    // Written straight into the table, as an endpoint made under the setting would be (the
    // API refuses these URLs without it).
    let https_literal = receiver.url.replace("http://", "https://");
    let by_name = https_literal.replace("127.0.0.1", "localhost");
    let literal = endpoint(&db.pool, &https_literal, &new_secret()).await;
    let named = endpoint(&db.pool, &by_name, &new_secret()).await;
    let plain = endpoint(&db.pool, &receiver.url, &new_secret()).await;
    let a = event(&db.pool, &[literal], 1).await;
    let b = event(&db.pool, &[named], 2).await;
    let c = event(&db.pool, &[plain], 3).await;
    let (ea, eb, ec) = (
        first_error(&db.pool, &a).await,
        first_error(&db.pool, &b).await,
        first_error(&db.pool, &c).await,
    );
    eprintln!("[events/address] literal: {ea}; by name: {eb}; plain http: {ec}");
    assert!(ea.contains("loopback"), "{ea}");
    assert!(eb.contains("loopback"), "{eb}");
    assert!(ec.contains("https"), "{ec}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
    stop.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_five_days_is_disabled_with_an_operator_alert() {
    let db = TestDatabase::migrated(10).await;
    let stop = start_loop(&db.pool, vec![Duration::ZERO, Duration::from_secs(3600)]);
    let dead = endpoint(&db.pool, &dead_url(), &new_secret()).await;
    let young = endpoint(&db.pool, &dead_url(), &new_secret()).await;
    sqlx::query(
        "UPDATE h2s_event_endpoints SET failing_since = now() - interval '5 days 1 minute'
         WHERE endpoint_id = $1",
    )
    .bind(dead)
    .execute(&db.pool)
    .await
    .unwrap();
    let a = event(&db.pool, &[dead, young], 1).await;
    first_error(&db.pool, &a).await;
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let states = loop {
        let states: Vec<(bool, Option<String>)> = sqlx::query_as(
            "SELECT enabled, disabled_reason FROM h2s_event_endpoints ORDER BY endpoint_id = $1 DESC",
        )
        .bind(dead)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        if !states[0].0 || std::time::Instant::now() > end {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(states[0], (false, Some("failing".into())), "disabled");
    assert_eq!(
        states[1],
        (true, None),
        "failing for less than 5 days: kept"
    );
    let alerts: Vec<(Option<uuid::Uuid>, String)> = sqlx::query_as(
        "SELECT endpoint_id, kind FROM h2s_operator_alerts WHERE resolved_at IS NULL",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(alerts, [(Some(dead), "event_endpoint_failing".to_owned())]);
    stop.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_pruned_after_the_retention_and_the_metrics_tell_the_outcomes_and_the_backlog() {
    let db = TestDatabase::migrated(10).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let stop = start_loop(&db.pool, vec![Duration::ZERO, Duration::from_secs(3600)]);
    let secret = new_secret();
    let good = endpoint(&db.pool, &receiver.url, &secret).await;
    let bad = endpoint(&db.pool, &dead_url(), &new_secret()).await;
    let old = event(&db.pool, &[good], 1).await;
    let fresh = event(&db.pool, &[good, bad], 2).await;
    receiver
        .wait_all_accepted(&[old.clone(), fresh.clone()], Duration::from_secs(10))
        .await;
    first_error(&db.pool, &fresh).await;
    verify_all(&receiver.received(), &secret);
    let text = h2s_dispatch::scrape::render_fresh(&db.pool).await;
    let gauge = format!("h2s_event_pending_deliveries{{endpoint=\"{bad}\"}} 1");
    assert!(text.contains(&gauge), "{gauge} in:\n{text}");
    assert!(text.contains(&format!(
        "h2s_event_oldest_undelivered_age_seconds{{endpoint=\"{bad}\"}}"
    )));
    assert!(text.contains("h2s_event_deliveries_total{outcome=\"retrying\"}"));
    // The first event and its log, 31 days old.
    sqlx::query(
        "UPDATE h2s_events SET created_at = now() - interval '31 days' WHERE event_id = $1",
    )
    .bind(&old)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE h2s_event_deliveries SET created_at = now() - interval '31 days',
         delivered_at = now() - interval '31 days' WHERE event_id = $1",
    )
    .bind(&old)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE h2s_delivery_attempts SET started_at = now() - interval '31 days'
         WHERE delivery_id IN (SELECT delivery_id FROM h2s_event_deliveries WHERE event_id = $1)",
    )
    .bind(&old)
    .execute(&db.pool)
    .await
    .unwrap();
    let pruned = retention::prune(&db.pool, Duration::from_secs(30 * 86_400))
        .await
        .unwrap();
    assert_eq!(pruned, 3, "its attempt, its delivery, the event");
    let left: Vec<String> = sqlx::query_scalar("SELECT event_id FROM h2s_events")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, [fresh]);
    stop.stop();
}
