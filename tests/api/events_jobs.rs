//! Issue 25: every move of a dispatch job, the dispatcher's, an operator's and the payment's,
//! and a job created for a paid order, writes exactly one event; a move refused or repeated
//! writes none.

use h2s_dispatch::reconcile::{self, SweepOptions};
use serde_json::json;
use stripe_standin::PaymentStatus;

use crate::{
    event_steps::{assert_consistent, spawn_feed_app},
    money::{deliver, paid_order, stripe_client},
    refund_steps::visit,
};

#[tokio::test]
async fn the_dispatchers_moves_tell_scheduled_and_completed_with_the_visit_and_refusals_nothing() {
    let app = spawn_feed_app().await;
    let (order_id, _) = paid_order(&app, "feed-dispatch@example.com").await;
    let job_id = app.job_id(&order_id).await;

    for action in ["schedule", "schedule", "complete", "complete", "cancel"] {
        let body = match action {
            "schedule" => Some(visit()),
            "cancel" => Some(json!({"reason": "too late"})),
            _ => None,
        };
        app.job_action(&job_id, action, body).await;
    }

    let events = app.events_of(&order_id).await;
    assert_consistent(&events, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await,
        [
            "order.paid",
            "job.ready",
            "job.scheduled",
            "job.scheduled",
            "job.completed"
        ],
        "a rebooking is told; a repeated completion and a refused cancel are not"
    );
    let scheduled = &events[2];
    assert_eq!(scheduled.data("job_status"), "scheduled");
    assert_eq!(scheduled.data("visit")["technician"], "tech-42");
    assert!(scheduled.data("visit")["window_start"].is_string());
    assert_eq!(events[4].data("job_status"), "completed");
    assert!(events[1].data("visit").is_null());
    app.shutdown().await;
}

#[tokio::test]
async fn an_operators_cancellation_tells_job_cancelled_operator_and_its_refund_order_refunded() {
    let app = spawn_feed_app().await;
    let (cancelled, _) = paid_order(&app, "feed-cancel@example.com").await;
    let job_id = app.job_id(&cancelled).await;
    let answer = app
        .job_action(&job_id, "cancel", Some(json!({"reason": "customer moved"})))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (refunded, _) = paid_order(&app, "feed-operator-refund@example.com").await;
    let body = json!({"reason": "goodwill", "cancel_job": true});
    let answer = app.request_refund(&refunded, &body, None).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(app.settled_requests(&refunded).await, ["succeeded"]);

    let events = app.events_of(&cancelled).await;
    assert_eq!(app.event_types_of(&cancelled).await[2..], ["job.cancelled"]);
    assert_eq!(events[2].data("reason"), "operator");
    assert_eq!(events[2].data("order_status"), "paid");
    let events = app.events_of(&refunded).await;
    assert_consistent(&events, &refunded);
    assert_eq!(
        app.event_types_of(&refunded).await[2..],
        ["job.cancelled", "order.refunded"],
        "the job cancelled with the request; the money's return cancels nothing more"
    );
    assert_eq!(events[2].data("reason"), "operator");
    app.shutdown().await;
}

#[tokio::test]
async fn a_visit_held_by_a_dispute_is_released_back_to_scheduled() {
    let app = spawn_feed_app().await;
    let (order_id, session_id) = paid_order(&app, "feed-held@example.com").await;
    app.schedule_job(&order_id).await;
    deliver(
        &app,
        &app.stripe.open_dispute_silently(&session_id).unwrap(),
    )
    .await;
    let closed = app
        .stripe
        .close_dispute_silently(&session_id, true)
        .unwrap();
    deliver(&app, &closed).await;

    let events = app.events_of(&order_id).await;
    assert_consistent(&events, &order_id);
    assert_eq!(
        app.event_types_of(&order_id).await[2..],
        [
            "job.scheduled",
            "dispute.opened",
            "job.on_hold",
            "dispute.closed",
            "job.released"
        ]
    );
    assert_eq!(events[6].data("job_status"), "scheduled");
    assert_eq!(events[6].data("visit")["technician"], "tech-42");
    app.shutdown().await;
}

#[tokio::test]
async fn an_expired_or_failed_payment_tells_job_cancelled_with_its_reason_and_no_order_event() {
    let app = spawn_feed_app().await;
    let (expired, session_id) = app.checkout("feed-expired@example.com").await;
    app.stripe.expire_session(&session_id).await.unwrap();
    let (failed, session_id) = app.checkout("feed-failed@example.com").await;
    app.stripe
        .complete_session(&session_id, PaymentStatus::Unpaid)
        .await
        .unwrap();
    app.stripe.async_payment(&session_id, false).await.unwrap();

    for (order_id, status, reason) in [
        (&expired, "expired", "expired"),
        (&failed, "payment_failed", "payment_failed"),
    ] {
        assert_eq!(app.order_status(order_id).await, status);
        let events = app.events_of(order_id).await;
        assert_consistent(&events, order_id);
        assert_eq!(app.event_types_of(order_id).await, ["job.cancelled"]);
        assert_eq!(events[0].data("reason"), reason);
        assert_eq!(events[0].data("order_status"), status);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_job_the_sweep_creates_for_a_paid_order_tells_job_ready_once() {
    let app = spawn_feed_app().await;
    let endpoint = app.subscribe(Some(&["job.ready"])).await;
    sqlx::query(
        "INSERT INTO h2s_orders (order_id, status, customer_email, paid_at,
                                 metadata_json, amount_total, currency)
         VALUES ('TBL-NOJOB', 'paid', 'table@example.com', now(),
                 '{\"service_address\": \"1 Quay Street\"}', 4200, 'usd')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let stripe = stripe_client(&app);

    for _ in 0..2 {
        reconcile::sweep(&app.pool, &stripe, &SweepOptions::default())
            .await
            .unwrap();
    }

    let events = app.events_of("TBL-NOJOB").await;
    assert_consistent(&events, "TBL-NOJOB");
    assert_eq!(app.event_types_of("TBL-NOJOB").await, ["job.ready"]);
    assert_eq!(events[0].data("service_address"), "1 Quay Street");
    assert_eq!(events[0].data("amount_total"), 4200);
    assert_eq!(
        events[0].data("job_id"),
        app.job_id("TBL-NOJOB").await.as_str()
    );
    assert_eq!(app.deliveries_to(&endpoint, "TBL-NOJOB").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_deleted_while_an_event_fans_out_is_skipped_and_the_change_goes_through() {
    let app = spawn_feed_app().await;
    let (order_id, _) = paid_order(&app, "feed-race@example.com").await;
    let endpoint = app.subscribe(None).await;
    let job_id = app.job_id(&order_id).await;
    // The operator's delete, not yet committed, while the dispatcher books the visit.
    let mut deleting = app.pool.begin().await.unwrap();
    sqlx::query("DELETE FROM h2s_event_endpoints WHERE endpoint_id = $1::uuid")
        .bind(&endpoint)
        .execute(&mut *deleting)
        .await
        .unwrap();
    let booking = {
        let app_url = app.base_url.clone();
        let http = app.http.clone();
        tokio::spawn(async move {
            http.post(format!(
                "{app_url}/api/admin/dispatch-jobs/{job_id}/schedule"
            ))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .json(&visit())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
        })
    };
    crate::helpers::wait_until(
        "the booking waits on the endpoint's row",
        std::time::Duration::from_secs(10),
        || async {
            app.count("pg_stat_activity WHERE wait_event_type = 'Lock'")
                .await
                > 0
        },
    )
    .await;
    deleting.commit().await.unwrap();

    assert_eq!(booking.await.unwrap(), 200);
    assert_eq!(
        app.event_types_of(&order_id).await,
        ["order.paid", "job.ready", "job.scheduled"]
    );
    assert_eq!(app.count("h2s_event_deliveries").await, 0);
    app.shutdown().await;
}
