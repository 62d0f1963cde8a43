//! Issue 26: the dispatcher's actions on a job, through one transition function. Impossible
//! moves are 409s that change nothing; rows an older portal changed by SQL are honoured.

use serde_json::json;

use crate::{
    helpers::spawn_app,
    money::{deliver, paid_order},
    refund_steps::visit,
};

#[tokio::test]
async fn a_job_is_scheduled_completed_and_never_cancelled_once_completed() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "dispatch@example.com").await;
    let job_id = app.job_id(&order_id).await;

    let early = app.job_action(&job_id, "complete", None).await;
    assert_eq!((early.status, early.code()), (409, "job_refused"));
    let scheduled = app.job_action(&job_id, "schedule", Some(visit())).await;
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    assert_eq!(scheduled.body["status"], "scheduled");
    assert_eq!(scheduled.body["technician"], "tech-42");
    let done = app.job_action(&job_id, "complete", None).await;
    assert_eq!(done.body["status"], "completed");

    let cancel = app
        .job_action(&job_id, "cancel", Some(json!({"reason": "too late"})))
        .await;
    assert_eq!((cancel.status, cancel.code()), (409, "job_refused"));
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("completed")
    );
    let moves = app
        .count(&format!("h2s_job_moves WHERE job_id = '{job_id}'"))
        .await;
    assert_eq!(
        moves, 3,
        "ready (paid), scheduled, completed: the refusals moved nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_job_on_hold_is_not_scheduled_nor_cancelled_the_dispute_releases_it() {
    let app = spawn_app().await;
    let (order_id, session_id) = paid_order(&app, "held@example.com").await;
    let job_id = app.job_id(&order_id).await;
    deliver(
        &app,
        &app.stripe.open_dispute_silently(&session_id).unwrap(),
    )
    .await;
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("on_hold"));

    let schedule = app.job_action(&job_id, "schedule", Some(visit())).await;
    assert_eq!((schedule.status, schedule.code()), (409, "job_refused"));
    let cancel = app
        .job_action(&job_id, "cancel", Some(json!({"reason": "x"})))
        .await;
    assert_eq!(cancel.status, 409);

    deliver(
        &app,
        &app.stripe
            .close_dispute_silently(&session_id, true)
            .unwrap(),
    )
    .await;
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    assert_eq!(
        app.job_action(&job_id, "schedule", Some(visit()))
            .await
            .status,
        200
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_job_cancelled_by_an_operator_stays_cancelled_and_breaks_no_invariant() {
    let app = spawn_app().await;
    let (order_id, session_id) = paid_order(&app, "called-off@example.com").await;
    let job_id = app.job_id(&order_id).await;
    let cancel = app
        .job_action(
            &job_id,
            "cancel",
            Some(json!({"reason": "customer called"})),
        )
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    assert_eq!(cancel.body["cancel_reason"], "customer called");

    // A late payment event, and a sweep: the operator's decision stands.
    let late = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap();
    app.deliver(&late.payload, Some(&late.signature_header))
        .await;
    let report = app
        .admin_post(format!("{}/api/admin/reconcile", app.base_url))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(report["report"]["invariant_violations_before"], 0);
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn rows_an_older_portal_changed_by_sql_are_honoured() {
    let app = spawn_app().await;
    let (order_id, _) = paid_order(&app, "portal@example.com").await;
    let job_id = app.job_id(&order_id).await;
    let set = |status: &'static str| {
        sqlx::query("UPDATE h2s_dispatch_jobs SET status = $2 WHERE job_id = $1::uuid")
            .bind(job_id.clone())
            .bind(status)
            .execute(&app.pool)
    };

    set("scheduled").await.unwrap();
    assert_eq!(app.job_action(&job_id, "complete", None).await.status, 200);
    set("completed").await.unwrap();
    let cancel = app
        .job_action(&job_id, "cancel", Some(json!({"reason": "x"})))
        .await;
    assert_eq!(cancel.status, 409);

    let missing = app
        .job_action(&uuid::Uuid::new_v4().to_string(), "complete", None)
        .await;
    assert_eq!(missing.status, 404);
    let bad_window = json!({"window_start": "2030-01-01T10:00:00Z", "window_end": "2030-01-01T09:00:00Z", "technician": "t"});
    let refused = app.job_action(&job_id, "schedule", Some(bad_window)).await;
    assert_eq!(refused.status, 400);
    app.shutdown().await;
}
