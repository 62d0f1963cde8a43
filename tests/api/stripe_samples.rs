//! Issue 23: Stripe as it really sends things. Every event type the system acts on, built
//! from Stripe's own sample objects (`fixtures3.json`), signed and delivered, is applied as
//! the lifecycle table says, quietly; a signed event the system cannot use is recorded as
//! such; the webhook and the sweep bring the same history at Stripe to the same end states.

use h2s_dispatch::reconcile::{self, SweepOptions};
use serde_json::{Value, json};
use stripe_standin::{PaymentStatus, samples};

use crate::helpers::spawn_app;
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

/// What happens to an order at Stripe after its checkout: each is done twice, once told by
/// the webhook and once left for the sweep to find through Stripe's Events API.
#[derive(Clone, Copy, Debug)]
enum Story {
    Paid,
    PartlyRefunded,
    Refunded,
    DisputeWon,
    DisputeLost,
    Expired,
}

impl Story {
    const ALL: [Story; 6] = [
        Story::Paid,
        Story::PartlyRefunded,
        Story::Refunded,
        Story::DisputeWon,
        Story::DisputeLost,
        Story::Expired,
    ];

    /// Plays the story at the stand-in, recording its events without sending them; the
    /// events, in Stripe's order.
    fn play(self, stripe: &stripe_standin::StandIn, session: &str) -> Vec<Value> {
        if let Story::Expired = self {
            return vec![stripe.expire_session_silently(session).unwrap()];
        }
        let mut events = vec![
            stripe
                .complete_session_silently(session, PaymentStatus::Paid)
                .unwrap(),
        ];
        match self {
            Story::PartlyRefunded => {
                events.extend(stripe.refund_silently(session, Some(1_000)).unwrap())
            }
            Story::Refunded => events.extend(stripe.refund_silently(session, None).unwrap()),
            Story::DisputeWon | Story::DisputeLost => {
                events.push(stripe.open_dispute_silently(session).unwrap());
                let won = matches!(self, Story::DisputeWon);
                events.push(stripe.close_dispute_silently(session, won).unwrap());
            }
            _ => {}
        }
        events
    }
}

/// An order's end state as the database holds it: order status, job status, amounts, the
/// payment's time set, the job linked.
async fn end_state(app: &crate::helpers::TestApp, order_id: &str) -> Value {
    let row: (String, Option<String>, i64, Option<i64>, bool, bool) = sqlx::query_as(
        "SELECT o.status, j.status, o.amount_refunded, o.amount_total, o.paid_at IS NOT NULL,
                o.dispatch_job_id IS NOT DISTINCT FROM j.job_id
         FROM h2s_orders o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id
         WHERE o.order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    json!({"status": row.0, "job": row.1, "refunded": row.2, "total": row.3,
           "paid_at": row.4, "linked": row.5})
}

#[tokio::test]
async fn the_webhook_and_the_sweep_bring_the_same_stripe_history_to_the_same_order_end_states() {
    let app = spawn_app().await;
    let mut pairs = Vec::new();
    for (i, story) in Story::ALL.into_iter().enumerate() {
        let (by_webhook, s1) = app.checkout(&format!("told-{i}@example.com")).await;
        let (by_sweep, s2) = app.checkout(&format!("found-{i}@example.com")).await;
        for event in story.play(&app.stripe, &s1) {
            crate::money::deliver(&app, &event).await;
        }
        story.play(&app.stripe, &s2);
        pairs.push((story, by_webhook, by_sweep));
    }
    let stripe = crate::money::stripe_client(&app);

    let report = reconcile::sweep(&app.pool, &stripe, &SweepOptions::default())
        .await
        .unwrap();

    eprintln!("[stripe_samples/webhook-vs-sweep] sweep report: {report:?}");
    let expected = [
        "paid",
        "paid",
        "refunded",
        "paid",
        "dispute_lost",
        "expired",
    ];
    for ((story, by_webhook, by_sweep), status) in pairs.iter().zip(expected) {
        let (told, found) = (
            end_state(&app, by_webhook).await,
            end_state(&app, by_sweep).await,
        );
        assert_eq!(told["status"], status, "{story:?} by the webhook: {told}");
        assert_eq!(
            told, found,
            "{story:?}: webhook {told} against sweep {found}"
        );
    }
    app.shutdown().await;
}
