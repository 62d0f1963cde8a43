//! Issue 26: the refund guards. Each refusal is a clear 4xx and writes nothing (no request,
//! no outbox task, the job as it was); a completed job's refund goes through with an alert.

use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_app},
    money::{alerts, paid_order},
};

/// Rows a refund request writes: requests, refund tasks, job moves, alerts.
async fn written(app: &TestApp) -> i64 {
    app.count("h2s_refund_requests").await
        + app
            .count("apalis.jobs WHERE idempotency_key LIKE 'refund:%'")
            .await
        + app
            .count("h2s_job_moves WHERE cause = 'cancelled by an operator'")
            .await
        + app.count("h2s_operator_alerts").await
}

#[tokio::test]
async fn two_partial_requests_in_flight_that_together_exceed_the_total_are_refused_the_second() {
    let mut app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "over@example.com").await;
    app.stop_worker().await;

    let first = app
        .request_refund(&order_id, &json!({"amount": 6_000, "reason": "a"}), None)
        .await;
    assert_eq!(first.status, 202);
    let before = written(&app).await;
    let second = app
        .request_refund(&order_id, &json!({"amount": 5_000, "reason": "b"}), None)
        .await;
    assert_eq!((second.status, second.code()), (422, "amount_too_large"));
    assert_eq!(second.body["error"]["field"], "amount");
    assert!(
        second.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4000 cents remain"),
        "{}",
        second.body
    );
    assert_eq!(written(&app).await, before, "nothing written");

    let fits = app
        .request_refund(&order_id, &json!({"amount": 4_000, "reason": "c"}), None)
        .await;
    assert_eq!(fits.status, 202);
    let nothing_left = app
        .request_refund(&order_id, &json!({"reason": "the rest"}), None)
        .await;
    assert_eq!(
        (nothing_left.status, nothing_left.code()),
        (422, "amount_too_large")
    );

    app.run_pending_tasks().await;
    assert_eq!(
        app.settled_requests(&order_id).await,
        ["succeeded", "succeeded"]
    );
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(app.refunds_at_stripe(&order_id).await, 2);
    app.shutdown().await;
}

#[tokio::test]
async fn an_order_that_was_never_paid_is_refused_with_nothing_written() {
    let app = spawn_app().await;
    let (order_id, _) = app.checkout("unpaid@example.com").await;
    let refused = app
        .request_refund(&order_id, &json!({"reason": "x"}), None)
        .await;
    assert_eq!((refused.status, refused.code()), (409, "order_not_paid"));
    assert_eq!(written(&app).await, 0);
    assert_eq!(app.order_status(&order_id).await, "pending_payment");
    let unknown = app
        .request_refund("ORD-0000000000000000", &json!({"reason": "x"}), None)
        .await;
    assert_eq!(unknown.status, 404);
    app.shutdown().await;
}

#[tokio::test]
async fn a_refund_that_would_cancel_a_scheduled_job_needs_the_override() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "scheduled@example.com").await;
    app.schedule_job(&order_id).await;

    for body in [
        json!({"reason": "all of it"}),
        json!({"amount": 1_000, "reason": "and cancel", "cancel_job": true}),
    ] {
        let refused = app.request_refund(&order_id, &body, None).await;
        assert_eq!((refused.status, refused.code()), (409, "job_scheduled"));
        assert_eq!(refused.body["error"]["field"], "override_dispatched");
    }
    assert_eq!(written(&app).await, 0, "nothing written");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("scheduled")
    );

    // A part, the visit kept: allowed without the override.
    let part = json!({"amount": 1_000, "reason": "discount"});
    assert_eq!(app.request_refund(&order_id, &part, None).await.status, 202);
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("scheduled")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_completed_jobs_refund_goes_through_raises_the_alert_and_leaves_the_job_completed() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "completed@example.com").await;
    app.schedule_job(&order_id).await;
    let job_id = app.job_id(&order_id).await;
    assert_eq!(app.job_action(&job_id, "complete", None).await.status, 200);

    let cancel = json!({"reason": "cancel it", "cancel_job": true});
    let refused = app.request_refund(&order_id, &cancel, None).await;
    assert_eq!((refused.status, refused.code()), (409, "job_completed"));

    let full = json!({"reason": "unhappy customer"});
    assert_eq!(app.request_refund(&order_id, &full, None).await.status, 202);
    assert_eq!(alerts(&app, &order_id).await, ["money_back_after_dispatch"]);
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("completed")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_key_for_another_request_is_a_conflict_and_bad_input_is_a_400() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "key@example.com").await;
    let first = json!({"amount": 1_000, "reason": "a"});
    assert_eq!(
        app.request_refund(&order_id, &first, Some("k-1"))
            .await
            .status,
        202
    );
    let other = json!({"amount": 2_000, "reason": "a"});
    let reused = app.request_refund(&order_id, &other, Some("k-1")).await;
    assert_eq!((reused.status, reused.code()), (409, "conflict"));
    for (body, field) in [
        (json!({"amount": 0, "reason": "a"}), "amount"),
        (json!({"amount": 100}), "reason"),
    ] {
        let invalid = app.request_refund(&order_id, &body, None).await;
        assert_eq!(
            (invalid.status, invalid.body["error"]["field"].as_str()),
            (400, Some(field))
        );
    }
    let unauthorized = app
        .http
        .post(format!(
            "{}/api/admin/orders/{order_id}/refunds",
            app.base_url
        ))
        .json(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    assert_eq!(app.count("h2s_refund_requests").await, 1);
    app.shutdown().await;
}
