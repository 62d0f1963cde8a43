//! Operations: admin routes and metrics.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Options, checkout_body, spawn_app, spawn_app_with, wait_until};

#[tokio::test]
async fn admin_routes_refuse_a_missing_or_wrong_token_and_list_with_the_right_one() {
    let app = spawn_app().await;
    let (order_id, _) = app.checkout("admin@example.com").await;
    let url = format!("{}/api/admin/orders?status=pending_payment", app.base_url);

    let none = app.http.get(&url).send().await.unwrap();
    let wrong = app.http.get(&url).bearer_auth("nope").send().await.unwrap();
    let right = app
        .http
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(none.status().as_u16(), 401);
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(right.status().as_u16(), 200);
    let body: Value = right.json().await.unwrap();
    assert_eq!(body["orders"][0]["order_id"], order_id.as_str());
    let paid: Value = app
        .admin_get(format!("{}/api/admin/orders?status=paid", app.base_url))
        .await;
    assert_eq!(paid["orders"].as_array().unwrap().len(), 0);
    let jobs: Value = app
        .admin_get(format!(
            "{}/api/admin/dispatch-jobs?status=awaiting_payment",
            app.base_url
        ))
        .await;
    assert_eq!(jobs["jobs"][0]["order_id"], order_id.as_str());
    app.shutdown().await;
}

#[tokio::test]
async fn a_dead_checkout_task_is_listed_and_an_admin_retry_completes_it_with_one_session() {
    let mut app = spawn_app_with(Options {
        max_retries: 1,
        checkout_wait: Duration::from_millis(100),
        start_worker: false,
        ..Options::default()
    })
    .await;
    let r = app.post_checkout(&checkout_body("dead@example.com")).await;
    let order_id = r.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.kill_checkout_task(&order_id).await;
    let dead_url = format!("{}/api/admin/outbox/dead", app.base_url);
    let dead: Value = app.admin_get(dead_url).await;
    assert_eq!(dead["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(dead["tasks"][0]["task"]["order_id"], order_id.as_str());
    let id = dead["tasks"][0]["id"].as_str().unwrap().to_owned();

    app.start_worker();
    let retried = app
        .admin_post(format!("{}/api/admin/outbox/{id}/retry", app.base_url))
        .await;

    assert_eq!(retried.status().as_u16(), 200);
    wait_until(
        "the order gets its session",
        Duration::from_secs(10),
        || async { app.get_order(&order_id).await.1["pay"]["session_id"].is_string() },
    )
    .await;
    assert_eq!(app.stripe.sessions_created_for(&order_id), 1);
    let again = app
        .admin_post(format!("{}/api/admin/outbox/{id}/retry", app.base_url))
        .await;
    assert_eq!(
        again.status().as_u16(),
        404,
        "only dead tasks can be retried"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn metrics_report_checkouts_outbox_depth_and_orphans() {
    let app = spawn_app().await;
    app.checkout("metrics@example.com").await;

    let text = app
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    for name in [
        "h2s_checkouts_total{outcome=\"ready\"}",
        "h2s_outbox_depth{kind=\"checkout\"}",
        "h2s_outbox_oldest_pending_age_seconds{kind=\"checkout\"}",
        "h2s_outbox_dead_tasks{kind=\"checkout\"} 0",
        "h2s_orphan_orders 0",
        "h2s_stripe_request_duration_seconds_count{endpoint=\"create_session\"}",
        "h2s_stripe_requests_total{endpoint=\"create_session\",status=\"200\"} ",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn an_admin_sweep_reports_in_dry_run_then_repairs_a_legacy_orphan() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO h2s_orders (order_id, status, customer_email) VALUES ('LEGACY-1', 'paid', 'old@example.com')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let url = |dry: bool| format!("{}/api/admin/reconcile?dry_run={dry}", app.base_url);

    let dry: Value = app.admin_post(url(true)).await.json().await.unwrap();
    assert_eq!(dry["report"]["orphans_repaired"], 1, "{dry}");
    assert_eq!(app.count("h2s_dispatch_jobs").await, 0);

    let real: Value = app.admin_post(url(false)).await.json().await.unwrap();
    assert_eq!(real["report"]["orphans_repaired"], 1, "{real}");
    assert_eq!(real["report"]["failed"], 0);
    assert_eq!(app.job_status("LEGACY-1").await.as_deref(), Some("ready"));
    let unauthorized = app.http.post(url(false)).send().await.unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    app.shutdown().await;
}

#[tokio::test]
async fn an_admin_sweep_on_an_api_without_a_stripe_key_repairs_what_needs_no_stripe_and_says_what_it_skipped()
 {
    let app = spawn_app_with(Options {
        api_stripe_key: false,
        ..Options::default()
    })
    .await;
    sqlx::query(
        "INSERT INTO h2s_orders (order_id, status, customer_email) VALUES ('LEGACY-2', 'paid', 'old2@example.com')",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let response = app
        .admin_post(format!(
            "{}/api/admin/reconcile?dry_run=false",
            app.base_url
        ))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["report"]["orphans_repaired"], 1, "{body}");
    assert_eq!(body["report"]["stripe_calls"], 0, "{body}");
    assert_eq!(
        body["report"]["skipped_steps"],
        json!(["missed_webhooks"]),
        "{body}"
    );
    assert_eq!(app.job_status("LEGACY-2").await.as_deref(), Some("ready"));
    assert_eq!(app.stripe.calls().values().sum::<usize>(), 0);
    app.shutdown().await;
}
