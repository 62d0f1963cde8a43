//! Issue 25: every change to an order's payment writes exactly one event in its transaction,
//! fanned out to each enabled endpoint that wants it; a repeated webhook writes none.

use serde_json::json;
use sqlx::postgres::PgListener;

use crate::{
    event_steps::{assert_consistent, spawn_feed_app},
    money::{deliver, paid_order},
};

#[tokio::test]
async fn a_payment_tells_order_paid_then_job_ready_to_each_endpoint_that_wants_them_once() {
    let app = spawn_feed_app().await;
    let all = app.subscribe(None).await;
    let cancellations = app.subscribe(Some(&["job.cancelled"])).await;
    let readiness = app.subscribe(Some(&["job.ready", "order.refunded"])).await;
    let disabled = app.subscribe(None).await;
    let off = app
        .patch_endpoint(&disabled, &json!({"enabled": false}))
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    let mut listener = PgListener::connect(&app.database_url).await.unwrap();
    listener.listen("h2s_event_deliveries").await.unwrap();

    let (order_id, session_id) = paid_order(&app, "feed-paid@example.com").await;

    let events = app.events_of(&order_id).await;
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready"]
    );
    assert_consistent(&events, &order_id);
    let (paid, ready) = (&events[0], &events[1]);
    assert_eq!(paid.data("order_status"), "paid");
    assert_eq!(paid.data("amount_total"), 10_000);
    assert_eq!(paid.data("currency"), "usd");
    assert_eq!(ready.data("job_status"), "ready");
    assert_eq!(ready.data("job_id"), app.job_id(&order_id).await.as_str());
    assert!(ready.body["data"].get("reason").is_none());
    assert_eq!(app.deliveries_to(&all, &order_id).await, 2);
    assert_eq!(app.deliveries_to(&readiness, &order_id).await, 1);
    assert_eq!(app.deliveries_to(&cancellations, &order_id).await, 0);
    assert_eq!(app.deliveries_to(&disabled, &order_id).await, 0);
    let wake = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("a wake-up within 5 s")
        .unwrap();
    assert_eq!(wake.payload(), "due");

    // The same webhook again, and the same payment told by a late async event: no change.
    let again = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap();
    let answer = app
        .deliver(&again.payload, Some(&again.signature_header))
        .await;
    assert_eq!(answer.status().as_u16(), 200);
    let again = app
        .deliver(&again.payload, Some(&again.signature_header))
        .await;
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(app.events_of(&order_id).await.len(), 2);
    assert_eq!(app.count("h2s_event_deliveries").await, 3);
    app.shutdown().await;
}

#[tokio::test]
async fn a_full_refund_tells_order_refunded_then_job_cancelled_refunded_and_repeats_tell_nothing() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = paid_order(&app, "feed-refund@example.com").await;
    let refund = app.stripe.refund_silently(&session_id, None).unwrap();

    for event in &refund {
        deliver(&app, event).await;
    }
    for event in &refund {
        assert_eq!(deliver(&app, event).await["outcome"], "duplicate");
    }

    let events = app.events_of(&order_id).await;
    assert_consistent(&events, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready", "order.refunded", "job.cancelled"]
    );
    let cancelled = &events[3];
    assert_eq!(cancelled.data("reason"), "refunded");
    assert_eq!(cancelled.data("order_status"), "refunded");
    assert_eq!(cancelled.data("job_status"), "cancelled");
    assert_eq!(cancelled.data("amount_refunded"), 10_000);
    assert_eq!(events[2].data("order_status"), "refunded");
    app.shutdown().await;
}

#[tokio::test]
async fn a_partial_refund_tells_order_partially_refunded_once_and_the_rest_order_refunded() {
    let app = spawn_feed_app().await;
    let endpoint = app.subscribe(Some(&["order.partially_refunded"])).await;
    let (order_id, session_id) = paid_order(&app, "feed-partial@example.com").await;

    let part = app
        .stripe
        .refund_silently(&session_id, Some(2_500))
        .unwrap();
    for event in part.iter().chain(&part) {
        deliver(&app, event).await;
    }
    let events = app.events_of(&order_id).await;
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready", "order.partially_refunded"]
    );
    assert_eq!(events[2].data("amount_refunded"), 2_500);
    assert_eq!(events[2].data("order_status"), "paid");
    assert_eq!(app.deliveries_to(&endpoint, &order_id).await, 1);

    let rest = app.stripe.refund_silently(&session_id, None).unwrap();
    for event in rest.iter().rev() {
        deliver(&app, event).await;
    }
    assert_eq!(
        app.event_types_of(&order_id).await,
        [
            "order.paid",
            "job.ready",
            "order.partially_refunded",
            "order.refunded",
            "job.cancelled"
        ]
    );
    assert_consistent(&app.events_of(&order_id).await, &order_id);
    app.shutdown().await;
}

#[tokio::test]
async fn a_won_dispute_tells_opened_on_hold_closed_won_and_released() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = paid_order(&app, "feed-won@example.com").await;
    let opened = app.stripe.open_dispute_silently(&session_id).unwrap();
    deliver(&app, &opened).await;
    let closed = app
        .stripe
        .close_dispute_silently(&session_id, true)
        .unwrap();
    deliver(&app, &closed).await;
    assert_eq!(deliver(&app, &opened).await["outcome"], "duplicate");
    assert_eq!(deliver(&app, &closed).await["outcome"], "duplicate");

    let events = app.events_of(&order_id).await;
    assert_consistent(&events, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        [
            "order.paid",
            "job.ready",
            "dispute.opened",
            "job.on_hold",
            "dispute.closed",
            "job.released"
        ]
    );
    assert_eq!(events[2].data("order_status"), "disputed");
    assert_eq!(events[3].data("job_status"), "on_hold");
    assert_eq!(events[4].data("outcome"), "won");
    assert_eq!(events[5].data("job_status"), "ready");
    assert_eq!(events[5].data("order_status"), "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn a_lost_dispute_tells_dispute_closed_lost_and_job_cancelled_dispute_lost() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = paid_order(&app, "feed-lost@example.com").await;
    let opened = app.stripe.open_dispute_silently(&session_id).unwrap();
    let closed = app
        .stripe
        .close_dispute_silently(&session_id, false)
        .unwrap();
    // Out of order: the close first; the late opening changes nothing and tells nothing.
    deliver(&app, &closed).await;
    deliver(&app, &opened).await;

    let events = app.events_of(&order_id).await;
    assert_consistent(&events, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready", "dispute.closed", "job.cancelled"]
    );
    assert_eq!(events[2].data("outcome"), "lost");
    assert_eq!(events[2].data("order_status"), "dispute_lost");
    assert_eq!(events[3].data("reason"), "dispute_lost");
    app.shutdown().await;
}

#[tokio::test]
async fn a_won_dispute_seen_before_its_opening_is_told_though_it_moves_no_status() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = paid_order(&app, "feed-early-close@example.com").await;
    let opened = app.stripe.open_dispute_silently(&session_id).unwrap();
    let closed = app
        .stripe
        .close_dispute_silently(&session_id, true)
        .unwrap();

    // The close first: the order stays paid, the dispute is recorded won; the late opening
    // and a redelivery of the close record nothing more.
    deliver(&app, &closed).await;
    deliver(&app, &opened).await;
    deliver(&app, &closed).await;

    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    let events = app.events_of(&order_id).await;
    assert_consistent(&events, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready", "dispute.closed"]
    );
    assert_eq!(events[2].data("outcome"), "won");
    assert_eq!(events[2].data("order_status"), "paid");
    app.shutdown().await;
}

#[tokio::test]
async fn a_refund_the_sweep_applies_is_told_once_and_its_late_webhooks_tell_nothing() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = paid_order(&app, "feed-swept@example.com").await;
    let refund = app.stripe.refund_silently(&session_id, None).unwrap();
    let stripe = crate::money::stripe_client(&app);

    for _ in 0..2 {
        h2s_dispatch::reconcile::sweep(&app.pool, &stripe, &Default::default())
            .await
            .unwrap();
    }
    for event in &refund {
        deliver(&app, event).await;
    }

    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_consistent(&app.events_of(&order_id).await, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready", "order.refunded", "job.cancelled"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_delayed_payment_that_succeeds_tells_order_paid_then_job_ready_once() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = app.checkout("feed-delayed@example.com").await;
    app.stripe
        .complete_session(&session_id, stripe_standin::PaymentStatus::Unpaid)
        .await
        .unwrap();
    assert_eq!(
        app.events_of(&order_id).await.len(),
        0,
        "awaiting payment: no news"
    );
    app.stripe.async_payment(&session_id, true).await.unwrap();
    let late = app
        .stripe
        .build_event("checkout.session.async_payment_succeeded", &session_id)
        .unwrap();
    app.deliver(&late.payload, Some(&late.signature_header))
        .await;

    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_consistent(&app.events_of(&order_id).await, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready"]
    );
    app.shutdown().await;
}
