//! Issue 26: an operator's refund, exactly once. Counted at the stand-in (refunds made) and
//! in the database (requests, refunds recorded, the amount).

use serde_json::json;

use crate::{
    helpers::{Options, spawn_app, spawn_app_with},
    money::{alerts, paid_order},
    refund_steps::Books,
};

#[tokio::test]
async fn twenty_concurrent_identical_admin_requests_make_one_refund_recorded_once() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "twenty@example.com").await;
    let body = json!({"amount": 4_000, "reason": "customer cancelled part of the job"});

    let answers = futures::future::join_all(
        (0..20).map(|_| app.request_refund(&order_id, &body, Some("console-click-1"))),
    )
    .await;

    let accepted: Vec<_> = answers.iter().filter(|a| a.status == 202).collect();
    assert_eq!(accepted.len(), 1, "one request is written");
    assert!(
        answers
            .iter()
            .filter(|a| a.status != 202)
            .all(|a| a.status == 409 && a.code() == "duplicate_request"),
        "the others are refused as the same request"
    );
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    app.refund_events_applied(&order_id, 2).await;
    assert_eq!(app.refunds_at_stripe(&order_id).await, 1);
    assert_eq!(
        app.refund_books(&order_id).await,
        Books {
            refunds_recorded: 1,
            requests: 1,
            amount_refunded: 4_000
        }
    );
    assert_eq!(app.order_status(&order_id).await, "paid", "a part refunded");
    app.shutdown().await;
}

#[tokio::test]
async fn twenty_concurrent_full_refunds_without_a_key_make_one_the_others_find_nothing_left() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "twenty-full@example.com").await;
    let body = json!({"reason": "customer cancelled"});

    let answers =
        futures::future::join_all((0..20).map(|_| app.request_refund(&order_id, &body, None)))
            .await;

    let accepted = answers.iter().filter(|a| a.status == 202).count();
    assert_eq!(accepted, 1, "the first takes all that remains");
    assert!(
        answers
            .iter()
            .filter(|a| a.status != 202)
            .all(|a| a.status == 422 && a.code() == "amount_too_large"),
        "the others count it in flight"
    );
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    assert_eq!(app.refunds_at_stripe(&order_id).await, 1);
    assert_eq!(app.order_status(&order_id).await, "refunded");
    app.shutdown().await;
}

#[tokio::test]
async fn the_webhook_delivered_before_the_workers_answer_records_the_refund_once() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "webhook-first@example.com").await;
    app.stripe.hold_refund_answers();

    let body = json!({"reason": "customer cancelled the visit", "cancel_job": true});
    let accepted = app.request_refund(&order_id, &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "requested");
    // The refund is made, its answer held: the webhook settles the request first.
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    app.refund_events_applied(&order_id, 2).await;
    assert_eq!(app.order_status(&order_id).await, "refunded");
    app.stripe.release_refund_answers();
    crate::helpers::wait_until(
        "the worker records its answer",
        std::time::Duration::from_secs(15),
        || async {
            app.count("apalis.jobs WHERE idempotency_key LIKE 'refund:%' AND status = 'Done'")
                .await
                == 1
        },
    )
    .await;

    assert_eq!(app.refunds_at_stripe(&order_id).await, 1);
    assert_eq!(
        app.refund_books(&order_id).await,
        Books {
            refunds_recorded: 1,
            requests: 1,
            amount_refunded: 10_000
        }
    );
    let requests = app.refund_requests(&order_id).await;
    let refund_id = app.stripe.refunds()[0]["id"].clone();
    assert_eq!(requests[0]["stripe_refund_id"], refund_id);
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn cancel_and_refund_in_full_ends_refunded_with_the_job_cancelled_and_so_does_a_scheduled_job_with_the_override()
 {
    let app = spawn_app().await;
    let (ready, _) = paid_order(&app, "cancel-ready@example.com").await;
    let (scheduled, _) = paid_order(&app, "cancel-scheduled@example.com").await;
    app.schedule_job(&scheduled).await;

    let cancel = json!({"reason": "customer moved away", "cancel_job": true});
    assert_eq!(app.request_refund(&ready, &cancel, None).await.status, 202);
    assert_eq!(
        app.job_status(&ready).await.as_deref(),
        Some("cancelled"),
        "the job is cancelled in the request's transaction"
    );
    let overridden =
        json!({"reason": "visit called off", "cancel_job": true, "override_dispatched": true});
    assert_eq!(
        app.request_refund(&scheduled, &overridden, None)
            .await
            .status,
        202
    );

    for order_id in [&ready, &scheduled] {
        assert_eq!(app.settled_requests(order_id).await, ["succeeded"]);
        assert_eq!(app.order_status(order_id).await, "refunded");
        assert_eq!(app.job_status(order_id).await.as_deref(), Some("cancelled"));
        assert_eq!(app.refunds_at_stripe(order_id).await, 1);
        assert!(
            alerts(&app, order_id).await.is_empty(),
            "no visit is left booked"
        );
    }
    let breaches = app.count("h2s_orders WHERE status = 'paid'").await;
    assert_eq!(breaches, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_stripe_refusal_leaves_the_request_failed_with_the_reason_and_the_order_unchanged() {
    let mut app = spawn_app_with(Options::default()).await;
    let (order_id, session_id) = paid_order(&app, "refused@example.com").await;
    app.stop_worker().await;
    let body = json!({"amount": 3_000, "reason": "goodwill"});
    assert_eq!(app.request_refund(&order_id, &body, None).await.status, 202);
    // Meanwhile the whole charge was refunded in Stripe's dashboard (its events not sent).
    app.stripe.refund_silently(&session_id, None).unwrap();

    app.run_pending_tasks().await;

    let requests = app.refund_requests(&order_id).await;
    assert_eq!(requests[0]["status"], "failed");
    let reason = requests[0]["failure_reason"].as_str().unwrap();
    assert!(reason.starts_with("charge_already_refunded"), "{reason}");
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    assert_eq!(crate::money::amount_refunded(&app, &order_id).await, 0);
    assert_eq!(app.refunds_at_stripe(&order_id).await, 0);
    let page = app
        .console_page(&format!("/admin/orders?q={order_id}"))
        .await;
    assert!(page.contains("charge_already_refunded"), "{page}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_partial_refund_then_the_rest_ends_refunded() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "two-parts@example.com").await;
    let part = json!({"amount": 2_500, "reason": "one unit not installed"});
    assert_eq!(app.request_refund(&order_id, &part, None).await.status, 202);
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));

    let rest = json!({"reason": "the rest"});
    assert_eq!(app.request_refund(&order_id, &rest, None).await.status, 202);
    assert_eq!(
        app.settled_requests(&order_id).await,
        ["succeeded", "succeeded"]
    );
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(app.refunds_at_stripe(&order_id).await, 2);
    app.refund_events_applied(&order_id, 4).await;
    let books = app.refund_books(&order_id).await;
    assert_eq!((books.refunds_recorded, books.amount_refunded), (2, 10_000));
    app.shutdown().await;
}
