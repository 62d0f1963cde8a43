//! Issue 17: the money's life after the payment. Refunds and disputes through the webhook and
//! the sweep, applied once whatever order they come in, and what they do to the dispatch job.

use std::time::Duration;

use h2s_dispatch::{
    reconcile::{self, SweepOptions},
    stripe::{StripeClientConfig, StripeHttp},
};
use serde_json::Value;
use stripe_standin::{PaymentStatus, sign_payload};

use crate::helpers::{
    NotifyReceiver, Options, TestApp, WEBHOOK_SECRET, spawn_app, spawn_app_with, wait_until,
};

/// The reconciler's Stripe client, against the app's stand-in.
pub(crate) fn stripe_client(app: &TestApp) -> StripeHttp {
    StripeHttp::new(StripeClientConfig {
        secret_key: "sk_test_money".to_owned().into(),
        api_base: app.stripe.base_url(),
        timeout: Duration::from_secs(2),
        max_rps: None,
    })
    .unwrap()
}

/// Delivers a recorded event as Stripe would; the webhook's answer.
pub(crate) async fn deliver(app: &TestApp, event: &Value) -> Value {
    let payload = event.to_string();
    let signature = sign_payload(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
    let response = app.deliver(&payload, Some(&signature)).await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "the webhook accepts {}",
        event["type"]
    );
    response.json().await.unwrap()
}

async fn outcomes(app: &TestApp, events: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for event in events {
        out.push(
            deliver(app, event).await["outcome"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    out
}

/// A checkout paid at Stripe, its webhook delivered: `(order_id, session_id)`.
pub(crate) async fn paid_order(app: &TestApp, email: &str) -> (String, String) {
    let (order_id, session_id) = app.checkout(email).await;
    let delivery = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    assert_eq!(app.order_status(&order_id).await, "paid");
    (order_id, session_id)
}

pub(crate) async fn amount_refunded(app: &TestApp, order_id: &str) -> i64 {
    sqlx::query_scalar("SELECT amount_refunded FROM h2s_orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

pub(crate) async fn alerts(app: &TestApp, order_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM h2s_operator_alerts WHERE order_id = $1 ORDER BY kind")
        .bind(order_id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn set_job(app: &TestApp, order_id: &str, status: &str) {
    sqlx::query("UPDATE h2s_dispatch_jobs SET status = $2 WHERE order_id = $1")
        .bind(order_id)
        .bind(status)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_refund_ends_refunded_with_the_job_cancelled_once_whatever_comes_late() {
    let app = spawn_app().await;
    let (order_id, session_id) = paid_order(&app, "refund@example.com").await;

    let events = app.stripe.refund_silently(&session_id, None).unwrap();
    assert_eq!(
        outcomes(&app, &events).await,
        ["no_change", "applied", "no_change"]
    );

    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(amount_refunded(&app, &order_id).await, 10_000);
    // Repeats, and a late payment event, change nothing.
    assert_eq!(
        outcomes(&app, &events).await,
        ["duplicate", "duplicate", "duplicate"]
    );
    let late = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap();
    let answer = app
        .deliver(&late.payload, Some(&late.signature_header))
        .await;
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert!(
        alerts(&app, &order_id).await.is_empty(),
        "a ready job needs no operator"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_partial_refund_records_its_amount_and_changes_no_status_until_the_rest_is_refunded() {
    let app = spawn_app().await;
    let (order_id, session_id) = paid_order(&app, "partial@example.com").await;

    let part = app
        .stripe
        .refund_silently(&session_id, Some(2_500))
        .unwrap();
    assert_eq!(
        outcomes(&app, &part).await,
        ["no_change", "no_change", "no_change"]
    );
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    let (status, body) = app.get_order(&order_id).await;
    assert_eq!(
        (status, body["amount_refunded"].as_i64()),
        (200, Some(2_500))
    );

    // The rest, its `refund.updated` first: the two refunds add up to the whole amount.
    let rest = app.stripe.refund_silently(&session_id, None).unwrap();
    assert_eq!(deliver(&app, &rest[2]).await["outcome"], "applied");
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(deliver(&app, &rest[1]).await["outcome"], "no_change");
    assert_eq!(amount_refunded(&app, &order_id).await, 10_000);
    app.shutdown().await;
}

#[tokio::test]
async fn a_scheduled_or_completed_job_is_never_moved_by_a_refund_and_an_operator_is_told() {
    let app = spawn_app().await;
    for job in ["scheduled", "completed"] {
        let (order_id, session_id) = paid_order(&app, &format!("{job}@example.com")).await;
        set_job(&app, &order_id, job).await;

        let events = app.stripe.refund_silently(&session_id, None).unwrap();
        outcomes(&app, &events).await;

        assert_eq!(app.order_status(&order_id).await, "refunded");
        assert_eq!(app.job_status(&order_id).await.as_deref(), Some(job));
        assert_eq!(alerts(&app, &order_id).await, ["money_back_after_dispatch"]);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_dispute_holds_the_job_alerts_and_notifies_and_a_won_one_gives_the_visit_back() {
    let receiver = NotifyReceiver::start().await;
    let app = spawn_app_with(Options {
        notify_webhook_url: Some(receiver.url.clone()),
        ..Options::default()
    })
    .await;
    let (order_id, session_id) = paid_order(&app, "dispute@example.com").await;
    set_job(&app, &order_id, "scheduled").await;

    let opened = app.stripe.open_dispute_silently(&session_id).unwrap();
    assert_eq!(deliver(&app, &opened).await["outcome"], "applied");
    assert_eq!(app.order_status(&order_id).await, "disputed");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("on_hold"));
    assert_eq!(alerts(&app, &order_id).await, ["dispute_opened"]);
    wait_until(
        "the paid and the dispute notices",
        Duration::from_secs(10),
        || async { receiver.count() == 2 },
    )
    .await;
    let notices = receiver.received.lock().unwrap().clone();
    let dispute = notices
        .iter()
        .find(|n| n["text"].as_str().unwrap().contains("disputed"))
        .expect("a dispute notice");
    assert_eq!(dispute["order_id"], order_id.as_str());
    assert_eq!(dispute["status"], "disputed");
    // A late payment event does not lift the hold.
    let late = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap();
    app.deliver(&late.payload, Some(&late.signature_header))
        .await;
    assert_eq!(app.order_status(&order_id).await, "disputed");

    let closed = app
        .stripe
        .close_dispute_silently(&session_id, true)
        .unwrap();
    assert_eq!(deliver(&app, &closed).await["outcome"], "applied");
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("scheduled")
    );
    // The opening again (a redelivery) opens nothing.
    assert_eq!(deliver(&app, &opened).await["outcome"], "duplicate");
    assert_eq!(app.order_status(&order_id).await, "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn a_lost_dispute_ends_dispute_lost_and_its_late_opening_changes_nothing() {
    let app = spawn_app().await;
    let (order_id, session_id) = paid_order(&app, "lost@example.com").await;
    let opened = app.stripe.open_dispute_silently(&session_id).unwrap();
    let closed = app
        .stripe
        .close_dispute_silently(&session_id, false)
        .unwrap();

    // Out of order: the close first.
    assert_eq!(deliver(&app, &closed).await["outcome"], "applied");
    assert_eq!(app.order_status(&order_id).await, "dispute_lost");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(deliver(&app, &opened).await["outcome"], "no_change");
    assert_eq!(app.order_status(&order_id).await, "dispute_lost");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert!(
        alerts(&app, &order_id).await.is_empty(),
        "a closed dispute is no alert"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_refund_before_the_webhook_of_payment_is_parked_and_still_ends_refunded() {
    let app = spawn_app().await;
    let (order_id, session_id) = app.checkout("early@example.com").await;
    // Paid at Stripe, its webhook late; the refund's events arrive first.
    let completed = app
        .stripe
        .complete_session_silently(&session_id, PaymentStatus::Paid)
        .unwrap();
    let refund = app.stripe.refund_silently(&session_id, None).unwrap();
    assert_eq!(
        outcomes(&app, &refund).await,
        ["parked", "parked", "parked"]
    );
    assert_eq!(app.order_status(&order_id).await, "pending_payment");
    assert_eq!(app.count("h2s_parked_events").await, 3);

    assert_eq!(deliver(&app, &completed).await["outcome"], "no_change");

    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(app.count("h2s_parked_events").await, 0);
    let recorded: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT outcome, order_id FROM h2s_stripe_events WHERE event_type <> 'checkout.session.completed' ORDER BY outcome",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let order = Some(order_id.clone());
    assert_eq!(
        recorded,
        [
            ("applied".into(), order.clone()),
            ("no_change".into(), order.clone()), // refund.created, pending: nothing to record
            ("no_change".into(), order)
        ]
    );
    // Never paid here: no paid-order notification was queued.
    assert_eq!(
        app.count("apalis.jobs WHERE idempotency_key LIKE 'notify_paid:%'")
            .await,
        0
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_sweep_applies_refunds_and_disputes_the_webhook_missed() {
    let app = spawn_app().await;
    let (refunded, s1) = paid_order(&app, "missed-refund@example.com").await;
    let (disputed, s2) = paid_order(&app, "missed-dispute@example.com").await;
    app.stripe.refund_silently(&s1, None).unwrap();
    app.stripe.open_dispute_silently(&s2).unwrap();
    let stripe = stripe_client(&app);

    let report = reconcile::sweep(&app.pool, &stripe, &SweepOptions::default())
        .await
        .unwrap();

    assert_eq!(app.order_status(&refunded).await, "refunded");
    assert_eq!(app.order_status(&disputed).await, "disputed");
    assert_eq!(app.job_status(&disputed).await.as_deref(), Some("on_hold"));
    assert_eq!(report.money_moves, 2, "{report:?}");
    assert_eq!(report.invariant_violations_after, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn the_console_lists_the_open_alerts_and_the_timeline_shows_refunds_and_disputes() {
    let app = spawn_app().await;
    let (refunded, s1) = paid_order(&app, "console-refund@example.com").await;
    let (disputed, s2) = paid_order(&app, "console-dispute@example.com").await;
    outcomes(&app, &app.stripe.refund_silently(&s1, Some(4_000)).unwrap()).await;
    deliver(&app, &app.stripe.open_dispute_silently(&s2).unwrap()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{}/admin/login", app.base_url))
        .form(&[("token", crate::helpers::ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let get = |path: String| {
        let (http, cookie) = (http.clone(), cookie.clone());
        async move {
            let r = http
                .get(path)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.text().await.unwrap()
        }
    };

    let dashboard = get(format!("{}/admin", app.base_url)).await;
    assert!(dashboard.contains("id=\"alerts\""), "{dashboard}");
    assert!(dashboard.contains(&disputed) && dashboard.contains("dispute_opened"));
    let timeline = get(format!("{}/admin/orders?q={disputed}", app.base_url)).await;
    assert!(
        timeline.contains("event charge.dispute.created"),
        "{timeline}"
    );
    assert!(timeline.contains("operator alert dispute_opened"));
    let timeline = get(format!("{}/admin/orders?q={refunded}", app.base_url)).await;
    assert!(
        timeline.contains("event charge.refunded") && timeline.contains("event refund.updated")
    );
    // Money as currency (issue 33), not cents.
    assert!(timeline.contains("$40.00: succeeded"), "{timeline}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_refund_of_an_order_paid_without_a_stored_payment_intent_is_healed_by_the_sweep() {
    let app = spawn_app().await;
    let (order_id, session_id) = app.checkout("older-release@example.com").await;
    // Paid at Stripe and marked paid the way an older release (or the old backend) did:
    // no PaymentIntent stored. Its refund can only park.
    app.stripe
        .complete_session_silently(&session_id, PaymentStatus::Paid)
        .unwrap();
    sqlx::query("UPDATE h2s_orders SET status = 'paid', paid_at = now() WHERE order_id = $1")
        .bind(&order_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let refund = app.stripe.refund_silently(&session_id, None).unwrap();
    assert_eq!(
        outcomes(&app, &refund).await,
        ["parked", "parked", "parked"]
    );
    // Its payment's event is long past the Events API cursor: only the parked step can help.
    sqlx::query("INSERT INTO h2s_sweep_cursors (name, position) VALUES ('stripe_events', $1)")
        .bind(chrono::Utc::now().timestamp() + 3_600)
        .execute(&app.pool)
        .await
        .unwrap();
    let stripe = stripe_client(&app);
    let options = SweepOptions {
        stale_after: Duration::ZERO,
        ..SweepOptions::default()
    };

    let report = reconcile::sweep(&app.pool, &stripe, &options)
        .await
        .unwrap();

    assert_eq!(app.order_status(&order_id).await, "refunded", "{report:?}");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(app.count("h2s_parked_events").await, 0);
    assert_eq!((report.money_moves, report.failed), (1, 0), "{report:?}");
    let again = reconcile::sweep(&app.pool, &stripe, &options)
        .await
        .unwrap();
    assert_eq!(again.money_moves, 0);
    app.shutdown().await;
}
