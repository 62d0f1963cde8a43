//! Issue 33's console in a real browser: money as currency, a task's result in words, times
//! with their zone; and the event feed's endpoints managed there (created with the secret
//! shown once, rotated, disabled and enabled, deleted).

use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{ADMIN_TOKEN, Options, spawn_app_with},
    money::paid_order,
    webdriver::Browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_writes_money_results_and_times_for_an_operator_and_manages_endpoints() {
    let app = spawn_app_with(Options {
        event_endpoints_allow_private: true,
        ..Options::default()
    })
    .await;
    let (order_id, _) = paid_order(&app, "console-speaks@example.com").await;
    let refund = app
        .request_refund(
            &order_id,
            &json!({"amount": 1_000, "reason": "a scratch"}),
            None,
        )
        .await;
    assert_eq!(refund.status, 202, "{:?}", refund.body);
    let browser = Browser::start().await;
    let admin = format!("{}/admin", app.base_url);
    browser.log_in(&admin, ADMIN_TOKEN).await;

    // The order's timeline: the refund in dollars, the tasks' results in words, times in UTC.
    let timeline = browser
        .wait_for_text(
            &format!("{admin}/orders?q={order_id}"),
            "refund request succeeded",
            Duration::from_secs(20),
        )
        .await;
    assert!(timeline.contains("$10.00: a scratch"), "{timeline}");
    assert!(!timeline.contains("cents"), "{timeline}");
    assert!(timeline.contains("last result: succeeded"), "{timeline}");
    assert!(!timeline.contains("{\"Ok\""), "{timeline}");
    assert!(timeline.contains(" UTC</td>"), "{timeline}");

    // An endpoint created from the console: its secret on that page only.
    browser.goto(&format!("{admin}/event-feed")).await;
    browser
        .type_into("#endpoint-url", "http://127.0.0.1:9/hooks")
        .await;
    browser
        .type_into("#endpoint-types", "job.ready, order.paid")
        .await;
    browser.click("#endpoint-create").await;
    let created = browser.page_with("id=\"endpoint-secret\"").await;
    let secret = between(&created, "id=\"endpoint-secret\">", "<");
    assert!(secret.starts_with("whsec_"), "{created}");
    let row: (bool, Vec<String>) =
        sqlx::query_as("SELECT enabled, event_types FROM h2s_event_endpoints")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(row, (true, vec!["job.ready".into(), "order.paid".into()]));
    browser.click("#back").await;
    let feed = browser.page_with("http://127.0.0.1:9/hooks").await;
    assert!(!feed.contains(&secret), "the secret is shown once");

    // Rotated: a new secret, shown once.
    browser.click("button.endpoint-rotate").await;
    let rotated = browser.page_with("Secret rotated").await;
    let new_secret = between(&rotated, "id=\"endpoint-secret\">", "<");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    browser.click("#back").await;

    // Disabled, enabled again, deleted.
    let enabled = || async {
        sqlx::query_scalar::<_, bool>("SELECT enabled FROM h2s_event_endpoints")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    browser.page_with("Disable").await;
    browser.click("button.endpoint-toggle").await;
    browser.page_with("Endpoint disabled").await;
    assert!(!enabled().await);
    browser.click("button.endpoint-toggle").await;
    browser.page_with("Endpoint enabled").await;
    assert!(enabled().await);
    browser.click("button.endpoint-delete").await;
    browser.page_with("Endpoint deleted").await;
    assert_eq!(app.count("h2s_event_endpoints").await, 0);

    browser.quit().await;
    app.shutdown().await;
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).map(|i| i + start.len()).unwrap_or(0);
    let rest = &text[from..];
    rest[..rest.find(end).unwrap_or(rest.len())].to_owned()
}
