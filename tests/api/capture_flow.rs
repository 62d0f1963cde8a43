//! Issue 34 end to end with the real worker and the stand-in's holds: a manual checkout paid
//! by card is held (`authorized`, job `ready`, nothing captured); completing the job captures
//! once (twenty completions at once: one capture at Stripe); the capture's webhook before the
//! worker's answer is recorded once; a partial capture; a cancel releases with no refund; a
//! lapsed hold, a new payment link, then held again; a lapse whose webhooks were missed is
//! found by the sweep's look-up of the PaymentIntent, the Events API not listing them yet.

use std::time::Duration;

use serde_json::{Value, json};
use stripe_standin::PaymentStatus;

use crate::{
    capture::HELD,
    helpers::{TestApp, checkout_body, spawn_app, wait_until},
    refund_steps::visit,
};

const WAIT: Duration = Duration::from_secs(20);

/// A manual-capture checkout paid by card at the stand-in: `(order, PaymentIntent)`, once the
/// order is `authorized`.
pub(crate) async fn held(app: &TestApp, email: &str) -> (String, String) {
    let mut body = checkout_body(email);
    body["capture"] = json!("manual");
    let created = app.post_checkout(&body).await;
    assert_eq!(created.status().as_u16(), 200);
    let created: Value = created.json().await.unwrap();
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    let session_id = created["pay"]["session_id"].as_str().unwrap();
    let delivery = app
        .stripe
        .complete_session(session_id, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    wait_for_status(app, &order_id, "authorized").await;
    // The hold can be told by its events before the worker has read the PaymentIntent (the
    // session's `check_hold`, enqueued by the session's event, delivered above): a test that
    // then changes the PaymentIntent must not race that read.
    wait_until("the hold read by the worker", WAIT, || async {
        app.count(&format!(
            "apalis.jobs WHERE idempotency_key LIKE 'check_hold:{order_id}:%' AND status <> 'Done'"
        ))
        .await
            == 0
    })
    .await;
    let pi = app.order_row(&order_id).await["stripe_payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (order_id, pi)
}

async fn wait_for_status(app: &TestApp, order_id: &str, status: &str) {
    wait_until(&format!("order {status}"), WAIT, || async {
        app.order_status(order_id).await == status
    })
    .await;
}

async fn scheduled_job(app: &TestApp, order_id: &str) -> String {
    let job_id = app.job_id(order_id).await;
    let scheduled = app.job_action(&job_id, "schedule", Some(visit())).await;
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    job_id
}

#[tokio::test]
async fn a_held_payment_has_a_ready_job_and_no_capture_until_twenty_completions_capture_it_once() {
    let app = spawn_app().await;
    let (order_id, pi) = held(&app, "twenty@example.com").await;
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    assert!(app.stripe.captures(&pi).is_empty(), "nothing captured yet");
    // The worker read the PaymentIntent, its charge expanded: the hold's end is the charge's
    // own `capture_before`, not the 7-day estimate.
    let charge_end =
        app.stripe.charge_of(&pi).unwrap()["payment_method_details"]["card"]["capture_before"]
            .as_i64()
            .unwrap();
    wait_until("the hold's end read from its charge", WAIT, || async {
        app.order_row(&order_id).await["capture_before_exact"] == true
    })
    .await;
    let stored: i64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM capture_before)::bigint FROM h2s_orders WHERE order_id = $1",
    )
    .bind(&order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, charge_end);

    let job_id = scheduled_job(&app, &order_id).await;
    let completions = (0..20).map(|_| app.job_action(&job_id, "complete", None));
    let answers = futures::future::join_all(completions).await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort();
    assert_eq!(statuses[0], 200);
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
    wait_for_status(&app, &order_id, "paid").await;

    assert_eq!(app.stripe.captures(&pi), [HELD], "one capture at Stripe");
    assert_eq!(app.feed_events(&order_id, "order.captured").await, 1);
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("completed")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_captures_webhook_before_the_workers_answer_is_recorded_once() {
    let app = spawn_app().await;
    let (order_id, pi) = held(&app, "webhook-first@example.com").await;
    let job_id = scheduled_job(&app, &order_id).await;
    app.stripe.hold_payment_intent_answers();

    let done = app.job_action(&job_id, "complete", None).await;
    assert_eq!(done.status, 200);
    // The capture is made and its webhooks sent; the worker's answer is held back.
    wait_for_status(&app, &order_id, "paid").await;
    app.stripe.release_payment_intent_answers();
    wait_until("the capture task done", WAIT, || async {
        app.count(&format!(
            "apalis.jobs WHERE idempotency_key = 'capture:{order_id}:0' AND status = 'Done'"
        ))
        .await
            == 1
    })
    .await;

    assert_eq!(app.stripe.captures(&pi), [HELD]);
    assert_eq!(app.feed_events(&order_id, "order.captured").await, 1);
    assert_eq!(app.feed_events(&order_id, "order.paid").await, 0);
    assert_eq!(app.order_row(&order_id).await["amount_captured"], HELD);
    app.shutdown().await;
}

#[tokio::test]
async fn a_partial_capture_takes_its_amount_and_releases_the_rest_with_no_refund() {
    let app = spawn_app().await;
    let (order_id, pi) = held(&app, "partial-flow@example.com").await;
    let job_id = scheduled_job(&app, &order_id).await;

    let done = app
        .job_action(&job_id, "complete", Some(json!({"amount": 6_000})))
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    wait_for_status(&app, &order_id, "paid").await;

    assert_eq!(app.stripe.captures(&pi), [6_000]);
    let row = app.order_row(&order_id).await;
    assert_eq!(row["amount_captured"], 6_000);
    assert_eq!(row["amount_refunded"], 0, "the released rest is no refund");
    assert!(app.stripe.refunds().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn cancelling_the_job_releases_the_hold_with_no_refund() {
    let app = spawn_app().await;
    let (order_id, pi) = held(&app, "cancel-flow@example.com").await;
    let job_id = app.job_id(&order_id).await;

    let cancelled = app
        .job_action(&job_id, "cancel", Some(json!({"reason": "customer moved"})))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    wait_for_status(&app, &order_id, "released").await;

    assert_eq!(
        app.stripe.payment_intent(&pi).unwrap()["status"],
        "canceled"
    );
    assert!(app.stripe.captures(&pi).is_empty());
    assert!(app.stripe.refunds().is_empty());
    assert_eq!(app.count("h2s_refunds").await, 0);
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(app.feed_events(&order_id, "order.released").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_lapsed_hold_then_a_new_pay_link_paid_is_authorized_again() {
    let app = spawn_app().await;
    let (order_id, pi) = held(&app, "relink@example.com").await;

    app.stripe.lapse_hold(&pi).await.unwrap();
    wait_for_status(&app, &order_id, "authorization_expired").await;
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("on_hold"));

    let link = app
        .admin_post(format!(
            "{}/api/admin/orders/{order_id}/pay-link",
            app.base_url
        ))
        .await;
    assert_eq!(link.status().as_u16(), 202);
    wait_until("the new session", WAIT, || async {
        app.get_order(&order_id).await.1["pay"]["session_id"].is_string()
    })
    .await;
    let (_, order) = app.get_order(&order_id).await;
    let session_id = order["pay"]["session_id"].as_str().unwrap().to_owned();
    assert_eq!(app.stripe.sessions_created_for(&order_id), 2);

    app.stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();
    wait_for_status(&app, &order_id, "authorized").await;
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    let new_pi = app.order_row(&order_id).await["stripe_payment_intent_id"].clone();
    assert_ne!(new_pi, json!(pi));
    app.shutdown().await;
}

#[tokio::test]
async fn a_lapse_whose_webhooks_were_missed_and_not_yet_listed_is_found_by_the_sweeps_look_up() {
    let app = spawn_app().await;
    let (order_id, pi) = held(&app, "missed-lapse@example.com").await;
    // The lapse's events are neither delivered nor listed by the Events API yet: only the
    // sweep's look-up of the PaymentIntent can find it.
    app.stripe
        .set_listing_lag(std::time::Duration::from_secs(3600));
    app.stripe.lapse_hold_silently(&pi).unwrap();
    sqlx::query(
        "UPDATE h2s_orders SET capture_before = now() - interval '1 minute' WHERE order_id = $1",
    )
    .bind(&order_id)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(app.order_status(&order_id).await, "authorized");

    let stripe = h2s_dispatch::stripe::StripeHttp::new(app.worker_config().stripe).unwrap();
    let options = h2s_dispatch::reconcile::settings::SweepOptions::default();
    let report = h2s_dispatch::reconcile::sweep(&app.pool, &stripe, &options)
        .await
        .unwrap();

    assert_eq!(app.order_status(&order_id).await, "authorization_expired");
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    assert_eq!(report.authorizations_lapsed, 1, "found by the look-up");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("on_hold"));
    app.shutdown().await;
}
