//! Issue 25: replay. An operator replays a failing delivery from the console in a real
//! browser, and the receiver gets it with the same `webhook-id`; the admin API replays one
//! delivery, and every delivery to an endpoint since a time.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    event_delivery::start_loop,
    event_feed::{Behaviour, Receiver, dead_url, endpoint, event, new_secret, verify_all},
    helpers::{ADMIN_TOKEN, TestApp, spawn_app},
    webdriver::Browser,
};

/// `POST` a replay route with the admin token: the status and the JSON answer.
async fn replay(app: &TestApp, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = app.http.post(format!("{}{path}", app.base_url));
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

/// The answer fits the committed OpenAPI description of `method path` and `status`.
fn fit(method: &str, path: &str, status: u16, body: &Value) {
    use crate::openapi::{COMMITTED, fits, response_schema};
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    let errors = fits(&doc, response_schema(&doc, method, path, status), body);
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {body}: {errors:?}"
    );
}

async fn delivery_id(pool: &sqlx::PgPool, event_id: &str) -> i64 {
    sqlx::query_scalar("SELECT delivery_id FROM h2s_event_deliveries WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_failing_delivery_from_the_console_with_the_same_webhook_id() {
    let app = spawn_app().await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    // The receiver is down at first; the next attempt would be an hour away.
    let stop = start_loop(&app.pool, vec![Duration::ZERO, Duration::from_secs(3600)]);
    let secret = new_secret();
    let to = endpoint(&app.pool, &dead_url(), &secret).await;
    let id = event(&app.pool, &[to], 1).await;
    let delivery = delivery_id(&app.pool, &id).await;
    let browser = Browser::start().await;
    let admin = format!("{}/admin", app.base_url);
    browser.log_in(&admin, ADMIN_TOKEN).await;
    let feed = format!("{admin}/event-feed");
    let page = browser
        .wait_for_text(&feed, "connection refused", Duration::from_secs(10))
        .await;
    assert!(page.contains(&id), "{page}");
    browser.screenshot(&shots, "7-event-feed-failing").await;

    // The receiver is back (its owner fixed it): the operator replays.
    let receiver = Receiver::start(Behaviour::Accept).await;
    sqlx::query("UPDATE h2s_event_endpoints SET url = $2 WHERE endpoint_id = $1")
        .bind(to)
        .bind(&receiver.url)
        .execute(&app.pool)
        .await
        .unwrap();
    browser
        .click(&format!("#delivery-{delivery} button.replay"))
        .await;
    browser
        .page_with(&format!("Delivery {delivery} replayed"))
        .await;
    let got = receiver
        .wait_all_accepted(std::slice::from_ref(&id), Duration::from_secs(10))
        .await;
    assert_eq!(got, 1, "the replayed delivery arrived");
    let page = browser
        .wait_for_text(&feed, "No failing delivery.", Duration::from_secs(10))
        .await;
    assert!(!page.contains("connection refused"), "{page}");
    browser.screenshot(&shots, "8-event-feed-replayed").await;
    // The delivery's log: the refused attempt, then the replayed one (204).
    let log = browser
        .wait_for_text(
            &format!("{feed}/deliveries/{delivery}"),
            "204",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        log.contains("connection refused") && log.contains("yes"),
        "{log}"
    );
    let received = receiver.received();
    assert!(received.iter().all(|r| r.id == id), "same webhook-id");
    verify_all(&received, &secret);
    let replayed: bool = sqlx::query_scalar(
        "SELECT bool_and(replay) FROM h2s_delivery_attempts WHERE delivery_id = $1 AND status_code IS NOT NULL",
    )
    .bind(delivery)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(replayed, "the log marks the attempt as a replay");
    stop.stop();
    browser.quit().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_replays_one_delivery_and_an_endpoints_deliveries_since_a_time() {
    let app = spawn_app().await;
    let stop = start_loop(&app.pool, vec![Duration::ZERO]);
    let receiver = Receiver::start(Behaviour::Accept).await;
    let secret = new_secret();
    let to = endpoint(&app.pool, &receiver.url, &secret).await;
    let first = event(&app.pool, &[to], 1).await;
    let cutoff = chrono::Utc::now();
    let later = [
        event(&app.pool, &[to], 2).await,
        event(&app.pool, &[to], 3).await,
    ];
    let all = [first.clone(), later[0].clone(), later[1].clone()];
    assert_eq!(
        receiver
            .wait_all_accepted(&all, Duration::from_secs(10))
            .await,
        3
    );
    let count = |id: &str| receiver.received().iter().filter(|r| r.id == id).count();

    let one = delivery_id(&app.pool, &first).await;
    let (one_path, since_path) = (
        "/api/admin/event-deliveries/{id}/replay",
        "/api/admin/event-endpoints/{id}/replay",
    );
    let (status, answer) = replay(&app, &one_path.replace("{id}", &one.to_string()), None).await;
    assert_eq!((status, &answer["replayed"]), (200, &json!(1)));
    fit("post", one_path, 200, &answer);
    let body = json!({"since": cutoff});
    let path = since_path.replace("{id}", &to.to_string());
    let (status, answer) = replay(&app, &path, Some(&body)).await;
    assert_eq!((status, &answer["replayed"]), (200, &json!(2)));
    fit("post", since_path, 200, &answer);
    let (status, answer) = replay(&app, &path, Some(&json!({"since": "yesterday"}))).await;
    assert_eq!(status, 400);
    fit("post", since_path, 400, &answer);
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while all.iter().any(|id| count(id) < 2) {
        assert!(std::time::Instant::now() < end, "every replay arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        all.map(|id| count(&id)),
        [2, 2, 2],
        "each once more, same id"
    );
    verify_all(&receiver.received(), &secret);

    let (status, answer) = replay(&app, "/api/admin/event-deliveries/999999/replay", None).await;
    assert_eq!(status, 404);
    fit("post", one_path, 404, &answer);
    let unauthorised = app
        .http
        .post(format!("{}{}", app.base_url, one_path.replace("{id}", "1")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    stop.stop();
    app.shutdown().await;
}
