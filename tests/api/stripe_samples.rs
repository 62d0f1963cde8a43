//! Issue 23: Stripe as it really sends things. Every event type the system acts on, built
//! from Stripe's own sample objects (`fixtures3.json`), signed and delivered, is applied as
//! the lifecycle table says, quietly; a signed event the system cannot use is recorded as
//! such; the webhook and the sweep read an event into the same `StripeEvent`.

use h2s_dispatch::stripe::{
    WebhookSecrets,
    events::{self, StripeEvent},
    fields::Missing,
};
use serde_json::{Value, json};
use stripe_standin::{PaymentStatus, samples, sign_payload};

use crate::helpers::{WEBHOOK_SECRET, spawn_app};
use crate::log_capture::LogCapture;
use crate::samples::{ALL, Order, Scenario, deliver, event, run};

#[tokio::test]
async fn every_event_type_acted_on_built_from_stripes_samples_is_applied_as_the_lifecycle_table_says_without_a_warning()
 {
    let logs = LogCapture::start();
    let app = spawn_app().await;
    for scenario in ALL {
        let order = Order::new(&app).await;
        let (before, target) = scenario.events(&order);
        logs.take();

        let seen = run(&app, &order, &before, &target).await;

        assert_eq!(seen, scenario.expected_seen(), "{scenario:?}");
        assert_eq!(
            logs.take(),
            Vec::<String>::new(),
            "{scenario:?} logged a warning"
        );
    }
    app.shutdown().await;
}

async fn recorded(app: &crate::helpers::TestApp, event_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT outcome FROM h2s_stripe_events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_event_lacking_a_needed_field_is_answered_200_recorded_unusable_and_alerted_once()
{
    let logs = LogCapture::start();
    let app = spawn_app().await;
    let order = Order::new(&app).await;
    let (before, _) = Scenario::DisputeCreated.events(&order);
    assert_eq!(deliver(&app, &before[0]).await.0, 200, "paid");
    let mut unknown_close = samples::dispute("dp_x", "ch_x", "pi_x", 100, "won", 1);
    unknown_close["status"] = json!("a_status_from_the_future");
    let cases = [
        // Stripe's own sample dispute: `payment_intent: null`.
        (
            "charge.dispute.created",
            samples::sample("dispute"),
            "payment_intent",
        ),
        (
            "charge.refunded",
            samples::sample("charge"),
            "payment_intent",
        ),
        ("charge.dispute.closed", unknown_close, "status"),
        (
            "checkout.session.completed",
            json!({"object": "checkout.session"}),
            "id",
        ),
    ];
    for (event_type, object, missing) in cases {
        let e = event(event_type, object);
        logs.take();

        let (status, body) = deliver(&app, &e).await;
        let again = deliver(&app, &e).await;

        assert_eq!(
            (status, body["outcome"].as_str()),
            (200, Some("unusable")),
            "{body}"
        );
        assert_eq!(again.1["outcome"], "duplicate");
        let id = e["id"].as_str().unwrap();
        assert_eq!(recorded(&app, id).await.as_deref(), Some("unusable"));
        let alerts: Vec<(String, String)> =
            sqlx::query_as("SELECT kind, detail FROM h2s_operator_alerts WHERE event_id = $1")
                .bind(id)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].0, "unusable_event");
        assert!(alerts[0].1.contains(missing), "{alerts:?}");
        let lines = logs.take();
        assert_eq!(lines.len(), 1, "one line for it: {lines:#?}");
        assert!(
            lines[0].contains(id) && lines[0].contains(event_type),
            "{}",
            lines[0]
        );
        assert!(
            !lines[0].contains("webhook rejected"),
            "not a signature failure"
        );
    }
    // Nothing was applied to the order: it is paid, as before.
    assert_eq!(app.order_status(&order.order_id).await, "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn the_webhook_and_the_sweep_read_the_same_json_into_identical_stripe_events() {
    let app = spawn_app().await;
    let (_, paid) = app.checkout("one-reader-1@example.com").await;
    let (_, expired) = app.checkout("one-reader-2@example.com").await;
    app.stripe
        .complete_session_silently(&paid, PaymentStatus::Paid)
        .unwrap();
    app.stripe.refund_silently(&paid, Some(1_000)).unwrap();
    app.stripe.open_dispute_silently(&paid).unwrap();
    app.stripe.close_dispute_silently(&paid, true).unwrap();
    app.stripe.expire_session(&expired).await.unwrap();
    let mut dispute = samples::sample("dispute");
    dispute["payment_intent"] = Value::Null;
    let stripe = crate::money::stripe_client(&app);
    let secrets = WebhookSecrets::parse(&WEBHOOK_SECRET.to_owned().into()).unwrap();

    let page = stripe
        .get_json("/events", &[("limit", "100".into())])
        .await
        .unwrap();
    let listed = page["data"].as_array().unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut kinds = Vec::new();
    for json in listed {
        // The sweep reads the listed object; the webhook the same object as bytes, signed.
        let from_sweep = StripeEvent::from_json(json).expect("listed event");
        let body = serde_json::to_vec_pretty(json).unwrap();
        let header = sign_payload(std::str::from_utf8(&body).unwrap(), WEBHOOK_SECRET, now);
        let from_webhook = events::read_delivery(&body, Some(&header), &secrets, now).unwrap();

        assert_eq!(from_webhook, from_sweep);
        kinds.push((
            from_sweep.event_type.clone(),
            from_sweep.payment.is_some() || from_sweep.money.is_some(),
        ));
    }
    assert_eq!(listed.len(), 7, "{kinds:?}");
    let acted_on = kinds.iter().filter(|(_, acted)| *acted).count();
    assert_eq!(acted_on, 7, "every listed event is acted on: {kinds:?}");
    let unusable = event("charge.dispute.created", dispute);
    let from_sweep = StripeEvent::from_json(&unusable).unwrap();
    let body = unusable.to_string();
    let header = sign_payload(&body, WEBHOOK_SECRET, now);
    let from_webhook =
        events::read_delivery(body.as_bytes(), Some(&header), &secrets, now).unwrap();
    assert_eq!(from_webhook, from_sweep);
    assert_eq!(from_sweep.unusable, Some(Missing("payment_intent")));
    app.shutdown().await;
}
