//! Issue 17: the webhook's two gaps closed. An event of the other Stripe mode changes nothing;
//! several signing secrets are accepted at once, so a rotation loses no delivery.

use serde_json::Value;
use stripe_standin::{PaymentStatus, WebhookTarget, sign_payload};

use crate::helpers::{Options, TestApp, WEBHOOK_SECRET, spawn_app, spawn_app_with};

/// A `checkout.session.completed` for the order's session, `livemode` as given, signed with
/// `secret` at `at` (unix seconds): its answer's status and body.
async fn deliver_completed(
    app: &TestApp,
    session_id: &str,
    livemode: bool,
    secret: &str,
    at: i64,
) -> (u16, Value) {
    let built = app
        .stripe
        .build_event("checkout.session.completed", session_id)
        .unwrap();
    let mut event: Value = serde_json::from_str(&built.payload).unwrap();
    event["livemode"] = livemode.into();
    event["data"]["object"]["livemode"] = livemode.into();
    event["data"]["object"]["status"] = "complete".into();
    event["data"]["object"]["payment_status"] = "paid".into();
    let payload = event.to_string();
    let response = app
        .deliver(&payload, Some(&sign_payload(&payload, secret, at)))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn recorded(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT outcome FROM h2s_stripe_events ORDER BY received_at")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn metric_line(app: &TestApp, needle: &str) -> Option<String> {
    let text = reqwest::get(format!("{}/metrics", app.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().find(|l| l.contains(needle)).map(str::to_owned)
}

#[tokio::test]
async fn a_live_event_under_a_test_key_is_answered_200_recorded_counted_and_changes_nothing() {
    // The api's key is `sk_test_...`: it serves test mode.
    let app = spawn_app().await;
    let (order_id, session_id) = app.checkout("live-under-test@example.com").await;

    let (status, body) = deliver_completed(&app, &session_id, true, WEBHOOK_SECRET, now()).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "ignored_mode_mismatch");
    assert_eq!(app.order_status(&order_id).await, "pending_payment");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("awaiting_payment")
    );
    assert_eq!(recorded(&app).await, ["ignored_mode_mismatch"]);
    let counted = metric_line(&app, "outcome=\"ignored_mode_mismatch\"").await;
    assert!(
        counted.as_deref().is_some_and(|l| !l.ends_with(" 0")),
        "{counted:?}"
    );
    // The same payment in test mode is applied.
    let (status, body) = deliver_completed(&app, &session_id, false, WEBHOOK_SECRET, now()).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(app.order_status(&order_id).await, "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn an_api_without_a_key_serves_the_mode_it_is_told() {
    let app = spawn_app_with(Options {
        api_stripe_key: false,
        stripe_mode: Some("live"),
        ..Options::default()
    })
    .await;
    let (order_id, session_id) = app.checkout("live-mode@example.com").await;

    let (_, test_event) = deliver_completed(&app, &session_id, false, WEBHOOK_SECRET, now()).await;
    assert_eq!(test_event["outcome"], "ignored_mode_mismatch");
    assert_eq!(app.order_status(&order_id).await, "pending_payment");
    let (_, live_event) = deliver_completed(&app, &session_id, true, WEBHOOK_SECRET, now()).await;
    assert_eq!(live_event["outcome"], "applied");
    assert_eq!(app.order_status(&order_id).await, "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn during_a_rotation_deliveries_signed_by_the_old_or_the_new_secret_are_both_applied() {
    const NEW: &str = "whsec_rotated_in";
    let app = spawn_app_with(Options {
        webhook_secret: format!("{WEBHOOK_SECRET}, {NEW}"),
        ..Options::default()
    })
    .await;
    let (old_order, old_session) = app.checkout("old-secret@example.com").await;
    let (new_order, new_session) = app.checkout("new-secret@example.com").await;

    // Stripe signs with the old secret, then (the endpoint's secret rolled) with the new one.
    let delivery = app
        .stripe
        .complete_session(&old_session, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    app.stripe.set_webhook_target(WebhookTarget {
        url: format!("{}/api/stripe-webhook", app.base_url),
        secret: NEW.into(),
    });
    let delivery = app
        .stripe
        .complete_session(&new_session, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);

    assert_eq!(app.order_status(&old_order).await, "paid");
    assert_eq!(app.order_status(&new_order).await, "paid");
    // Neither secret signs a forgery; a stale timestamp is refused under each.
    let (forged, _) = deliver_completed(&app, &new_session, false, "whsec_other", now()).await;
    assert_eq!(forged, 400);
    for secret in [WEBHOOK_SECRET, NEW] {
        let (stale, _) = deliver_completed(&app, &new_session, false, secret, now() - 600).await;
        assert_eq!(stale, 400, "stale under {secret}");
    }
    assert_eq!(recorded(&app).await, ["applied", "applied"]);
    app.shutdown().await;
}

#[tokio::test]
async fn the_secrets_file_holds_one_secret_a_line() {
    let dir = std::env::temp_dir().join(format!("h2s-secrets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("whsec");
    std::fs::write(&file, "whsec_one\n\n  whsec_two  \n").unwrap();
    let (mut api, _) = crate::settings::parse(&crate::settings::args([(
        "--stripe-webhook-secret-file",
        file.display().to_string(),
    )]));
    api.read_secret_files().unwrap();
    let secrets = h2s_dispatch::stripe::WebhookSecrets::parse(
        api.http.stripe_webhook_secret.as_ref().unwrap(),
    )
    .unwrap();
    use secrecy::ExposeSecret;
    let all: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
    assert_eq!(all, ["whsec_one", "whsec_two"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
