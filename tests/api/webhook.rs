//! Integration tests of the webhook layer.

use std::time::Duration;

use serde_json::Value;
use stripe_standin::{PaymentStatus, sign_payload};

use crate::helpers::{
    NotifyReceiver, Options, TestApp, WEBHOOK_SECRET, spawn_app, spawn_app_with, wait_until,
};

async fn app_with_receiver() -> (TestApp, NotifyReceiver) {
    let receiver = NotifyReceiver::start().await;
    let app = spawn_app_with(Options {
        notify_webhook_url: Some(receiver.url.clone()),
        ..Options::default()
    })
    .await;
    (app, receiver)
}

async fn order_row(app: &TestApp, order_id: &str) -> (String, Option<i64>, bool) {
    sqlx::query_as(
        "SELECT status, amount_total, paid_at IS NOT NULL FROM h2s_orders WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_paid_completed_session_marks_the_order_paid_readies_its_one_job_and_notifies_once() {
    let (app, receiver) = app_with_receiver().await;
    let (order_id, session_id) = app.checkout("paid@example.com").await;

    let delivery = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();

    assert_eq!(delivery.status, 200);
    let (status, amount, has_paid_at) = order_row(&app, &order_id).await;
    assert_eq!(status, "paid");
    assert_eq!(amount, Some(10_000));
    assert!(has_paid_at);
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    wait_until("one notification", Duration::from_secs(10), || async {
        receiver.count() == 1
    })
    .await;
    let notice = receiver.received.lock().unwrap()[0].clone();
    assert_eq!(notice["order_id"], order_id.as_str());
    assert!(notice["text"].as_str().unwrap().contains(&order_id));
    assert_eq!(notice["customer_email"], "paid@example.com");
    assert_eq!(notice["service_address"], "123 Test St");
    assert_eq!(notice["amount_total"], 10_000);
    assert!(notice["job_id"].is_string());
    assert_eq!(app.count("h2s_dispatch_jobs").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_event_three_times_in_a_row_and_three_times_at_once_has_one_effect() {
    let (app, receiver) = app_with_receiver().await;
    let (first, s1) = app.checkout("dup1@example.com").await;
    let (second, s2) = app.checkout("dup2@example.com").await;
    app.stripe
        .set_webhook_target(stripe_standin::WebhookTarget {
            url: "http://127.0.0.1:9/unused".into(),
            secret: WEBHOOK_SECRET.into(),
        });
    // Paid at Stripe, but the delivery failed: the test delivers the event itself.
    for s in [&s1, &s2] {
        let _ = app.stripe.complete_session(s, PaymentStatus::Paid).await;
    }
    let e1 = app
        .stripe
        .build_event("checkout.session.completed", &s1)
        .unwrap();
    let e2 = app
        .stripe
        .build_event("checkout.session.completed", &s2)
        .unwrap();

    for _ in 0..3 {
        let r = app.deliver(&e1.payload, Some(&e1.signature_header)).await;
        assert_eq!(r.status().as_u16(), 200);
    }
    let (a, b, c) = tokio::join!(
        app.deliver(&e2.payload, Some(&e2.signature_header)),
        app.deliver(&e2.payload, Some(&e2.signature_header)),
        app.deliver(&e2.payload, Some(&e2.signature_header)),
    );
    let outcomes: Vec<String> = futures_outcomes(vec![a, b, c]).await;

    assert_eq!(
        outcomes.iter().filter(|o| *o == "applied").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "duplicate").count(),
        2,
        "{outcomes:?}"
    );
    for order in [&first, &second] {
        assert_eq!(app.order_status(order).await, "paid");
    }
    assert_eq!(app.count("h2s_stripe_events").await, 2);
    assert_eq!(app.count("h2s_dispatch_jobs").await, 2);
    wait_until("two notifications", Duration::from_secs(10), || async {
        receiver.count() == 2
    })
    .await;
    wait_until("outbox drained", Duration::from_secs(10), || async {
        app.count("apalis.jobs WHERE status <> 'Done'").await == 0
    })
    .await;
    assert_eq!(receiver.count(), 2, "one notification per order");
    app.shutdown().await;
}

async fn futures_outcomes(responses: Vec<reqwest::Response>) -> Vec<String> {
    let mut out = Vec::new();
    for r in responses {
        assert_eq!(r.status().as_u16(), 200);
        let b: Value = r.json().await.unwrap();
        out.push(b["outcome"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test]
async fn forged_stale_malformed_or_unsigned_deliveries_are_400_and_write_nothing() {
    let app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    // A session that exists at the stand-in, without going through our API.
    let session_id = app
        .create_session_at_stripe("x@example.com", "ORD-ABCDEFGHJKMNPQRS", &[])
        .await;
    let payload = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap()
        .payload;
    let now = chrono::Utc::now().timestamp();
    let good_sig = sign_payload(&payload, WEBHOOK_SECRET, now);
    let cases: Vec<(&str, String, Option<String>)> = vec![
        (
            "forged signature",
            payload.clone(),
            Some(format!("t={now},v1={}", "ab".repeat(32))),
        ),
        (
            "wrong secret",
            payload.clone(),
            Some(sign_payload(&payload, "whsec_wrong", now)),
        ),
        (
            "stale timestamp",
            payload.clone(),
            Some(sign_payload(&payload, WEBHOOK_SECRET, now - 301)),
        ),
        (
            "tampered body",
            payload.replace("paid", "PAID"),
            Some(good_sig.clone()),
        ),
        (
            "malformed JSON",
            "{not json".into(),
            Some(sign_payload("{not json", WEBHOOK_SECRET, now)),
        ),
        ("missing header", payload.clone(), None),
        (
            "empty body",
            String::new(),
            Some(sign_payload("", WEBHOOK_SECRET, now)),
        ),
        ("garbage header", payload.clone(), Some("nonsense".into())),
    ];
    for (what, body, sig) in cases {
        // Through the router in-process: the signature check needs no socket.
        let r = app.deliver_in_process(&body, sig.as_deref()).await;
        assert_eq!(r.status().as_u16(), 400, "{what}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["ok"], false, "{what}");
    }
    assert_eq!(app.count("h2s_stripe_events").await, 0);
    assert_eq!(app.rows_written().await, 0);

    // The same payload, properly signed, is accepted: the cases above failed for their fault.
    let r = app.deliver(&payload, Some(&good_sig)).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(app.count("h2s_stripe_events").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn delayed_payments_go_awaiting_then_paid_or_payment_failed_with_the_job_cancelled() {
    let app = spawn_app().await;
    let (ok_order, ok_session) = app.checkout("slow-ok@example.com").await;
    let (bad_order, bad_session) = app.checkout("slow-bad@example.com").await;

    for s in [&ok_session, &bad_session] {
        let d = app
            .stripe
            .complete_session(s, PaymentStatus::Unpaid)
            .await
            .unwrap();
        assert_eq!(d.status, 200);
    }
    assert_eq!(app.order_status(&ok_order).await, "awaiting_payment");
    assert_eq!(app.order_status(&bad_order).await, "awaiting_payment");
    assert_eq!(
        app.job_status(&ok_order).await.as_deref(),
        Some("awaiting_payment")
    );

    app.stripe.async_payment(&ok_session, true).await.unwrap();
    app.stripe.async_payment(&bad_session, false).await.unwrap();

    assert_eq!(app.order_status(&ok_order).await, "paid");
    assert_eq!(app.job_status(&ok_order).await.as_deref(), Some("ready"));
    assert_eq!(app.order_status(&bad_order).await, "payment_failed");
    assert_eq!(
        app.job_status(&bad_order).await.as_deref(),
        Some("cancelled")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_late_expired_never_downgrades_a_paid_order_and_expires_a_pending_one() {
    let app = spawn_app().await;
    let (paid_order, paid_session) = app.checkout("late@example.com").await;
    let (pending_order, pending_session) = app.checkout("gone@example.com").await;
    let late_expired = app
        .stripe
        .build_event("checkout.session.expired", &paid_session)
        .unwrap();

    app.stripe
        .complete_session(&paid_session, PaymentStatus::Paid)
        .await
        .unwrap();
    let r = app
        .deliver(&late_expired.payload, Some(&late_expired.signature_header))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    app.stripe.expire_session(&pending_session).await.unwrap();

    assert_eq!(app.order_status(&paid_order).await, "paid");
    assert_eq!(app.job_status(&paid_order).await.as_deref(), Some("ready"));
    assert_eq!(app.order_status(&pending_order).await, "expired");
    assert_eq!(
        app.job_status(&pending_order).await.as_deref(),
        Some("cancelled")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_webhook_before_the_worker_still_ends_with_one_job_and_one_session() {
    let mut app = spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let r = app
        .post_checkout(&crate::helpers::checkout_body("early@example.com"))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let order_id = r.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The session exists at Stripe: a worker created it, as the checkout task asks for it
    // (the order's key, its job id), and crashed before storing it.
    let session_id = {
        use h2s_dispatch::{dispatch, orders::OrderId, orders::repo, stripe};
        let id = OrderId::parse(&order_id).unwrap();
        let inputs = repo::session_inputs(&app.pool, &id).await.unwrap().unwrap();
        let client = stripe::StripeHttp::new(app.worker_config().stripe).unwrap();
        stripe::sessions::create(&client, &inputs, dispatch::job_id_for(&id))
            .await
            .unwrap()
            .id
    };

    let d = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    assert_eq!(app.order_status(&order_id).await, "paid");

    app.start_worker();
    wait_until("the outbox drains", Duration::from_secs(10), || async {
        app.count("apalis.jobs WHERE status <> 'Done'").await == 0
    })
    .await;
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.count("h2s_dispatch_jobs").await, 1);
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    assert_eq!(app.stripe.sessions_created_for(&order_id), 1);
    let (_, order) = app.get_order(&order_id).await;
    assert_eq!(order["pay"]["session_id"], session_id);
    app.shutdown().await;
}

#[tokio::test]
async fn an_event_for_an_unknown_order_creates_it_with_a_recipient_and_a_ready_job() {
    let app = spawn_app().await;
    let session_id = app
        .create_session_at_stripe(
            "walkin@example.com",
            "ORD-LOSTLOSTLOSTLOST",
            &[("service_address", "9 Elm St")],
        )
        .await;

    let d = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();

    assert_eq!(d.status, 200);
    let order_id = "ORD-LOSTLOSTLOSTLOST";
    assert_eq!(app.order_status(order_id).await, "paid");
    wait_until(
        "the job is created through the outbox",
        Duration::from_secs(10),
        || async { app.job_status(order_id).await.as_deref() == Some("ready") },
    )
    .await;
    let (email, address, amount): (String, Option<String>, Option<i64>) = sqlx::query_as(
        "SELECT r.email, j.service_address, o.amount_total FROM h2s_dispatch_jobs j
         JOIN h2s_recipients r USING (recipient_id) JOIN h2s_orders o USING (order_id)
         WHERE j.order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(email, "walkin@example.com");
    assert_eq!(address.as_deref(), Some("9 Elm St"));
    assert_eq!(
        amount,
        Some(20_000),
        "two units at the stand-in's default price"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn with_the_notification_receiver_down_the_webhook_answers_200_and_the_notice_comes_later() {
    let addr = NotifyReceiver::reserve_addr().await;
    let app = spawn_app_with(Options {
        notify_webhook_url: Some(format!("http://{addr}/hook")),
        ..Options::default()
    })
    .await;
    let (order_id, session_id) = app.checkout("notify-later@example.com").await;

    let d = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    assert_eq!(app.order_status(&order_id).await, "paid");
    wait_until(
        "a failed notification attempt",
        Duration::from_secs(10),
        || async {
            app.count(
                "apalis.jobs WHERE convert_from(job, 'UTF8') LIKE '%notify_paid%' AND attempts > 0",
            )
            .await
                > 0
        },
    )
    .await;

    let receiver = NotifyReceiver::start_on(addr).await;
    wait_until(
        "the notification arrives",
        Duration::from_secs(15),
        || async { receiver.count() == 1 },
    )
    .await;
    assert_eq!(
        receiver.received.lock().unwrap()[0]["order_id"],
        order_id.as_str()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn stripes_own_sample_event_re_signed_is_accepted_and_applied() {
    let app = spawn_app().await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stripe/checkout.session.completed.json"
    );
    let payload = std::fs::read_to_string(path).expect("Stripe's sample event");
    let sig = sign_payload(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());

    let r = app.deliver(&payload, Some(&sig)).await;

    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["outcome"], "applied");
    assert_eq!(app.order_status("ord_42").await, "paid");
    wait_until("its job", Duration::from_secs(10), || async {
        app.job_status("ord_42").await.as_deref() == Some("ready")
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_dev_pay_page_pays_the_order_through_the_signed_webhook() {
    let app = spawn_app().await;
    let r = app
        .post_checkout(&crate::helpers::checkout_body("browser@example.com"))
        .await;
    let body: Value = r.json().await.unwrap();
    let order_id = body["order_id"].as_str().unwrap();
    let page_url = body["pay"]["session_url"].as_str().unwrap();

    let page = app.http.get(page_url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    let action = html
        .split("action=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|a| a.ends_with("/complete"))
        .expect("a Pay form");
    let target = if action.starts_with("http") {
        action.to_owned()
    } else {
        format!("{}{action}", app.stripe.base_url())
    };
    let paid = app.http.post(target).send().await.unwrap();

    assert!(paid.status().is_success());
    assert_eq!(app.order_status(order_id).await, "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn an_event_of_another_type_is_recorded_answered_200_and_changes_nothing() {
    let app = spawn_app().await;
    let (order_id, session_id) = app.checkout("other-type@example.com").await;
    let built = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap();
    let mut event: Value = serde_json::from_str(&built.payload).unwrap();
    event["type"] = "h2s.future.event_type".into();
    event["id"] = "evt_other_type_1".into();
    let payload = serde_json::to_string(&event).unwrap();
    let sig = sign_payload(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());

    let r = app.deliver(&payload, Some(&sig)).await;

    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["outcome"], "ignored");
    assert_eq!(
        app.count("h2s_stripe_events WHERE event_id = 'evt_other_type_1'")
            .await,
        1
    );
    assert_eq!(app.order_status(&order_id).await, "pending_payment");
    app.shutdown().await;
}
