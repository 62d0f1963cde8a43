//! Issue 33: a refund that is `pending` first, as Stripe tells it (`refund.created` pending,
//! `charge.refunded`, then `refund.updated` when it settles, with `refund.failed` for a
//! failure), each event delivered through the real webhook by the stand-in.

use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_app, wait_until},
    money::paid_order,
};

/// An operator's full refund of a paid order, made at Stripe `pending`; its id, once the
/// request's first two events (`refund.created`, `charge.refunded`) are applied.
async fn pending_refund(app: &TestApp, email: &str) -> (String, String) {
    app.stripe.set_refunds_pending(true);
    let (order_id, _) = paid_order(app, email).await;
    let body = json!({"reason": "customer cancelled the visit", "cancel_job": true});
    let accepted = app.request_refund(&order_id, &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    app.refund_events_applied(&order_id, 2).await;
    wait_until(
        "the worker recorded Stripe's answer",
        Duration::from_secs(15),
        || async {
            app.count("apalis.jobs WHERE idempotency_key LIKE 'refund:%' AND status = 'Done'")
                .await
                == 1
        },
    )
    .await;
    let refund = &app.stripe.refunds()[0];
    assert_eq!(refund["status"], "pending");
    let requests = app.refund_requests(&order_id).await;
    assert_eq!(requests[0]["status"], "requested", "pending: not settled");
    (order_id, refund["id"].as_str().unwrap().to_owned())
}

/// The order's events from Stripe, in the order the webhook received them.
async fn received(app: &TestApp, order_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM h2s_stripe_events WHERE order_id = $1
         AND event_type LIKE ANY (ARRAY['refund.%', 'charge.refund%']) ORDER BY received_at",
    )
    .bind(order_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_pending_refund_that_succeeds_later_settles_the_request_and_ends_refunded() {
    let app = spawn_app().await;
    let (order_id, refund_id) = pending_refund(&app, "pending-ok@example.com").await;

    let settled = app.stripe.settle_refund(&refund_id, true).await.unwrap();

    assert_eq!(settled.iter().map(|d| d.status).collect::<Vec<_>>(), [200]);
    assert_eq!(app.settled_requests(&order_id).await, ["succeeded"]);
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(crate::money::amount_refunded(&app, &order_id).await, 10_000);
    assert_eq!(
        received(&app, &order_id).await,
        ["refund.created", "charge.refunded", "refund.updated"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_pending_refund_that_fails_later_leaves_the_request_failed_with_stripes_reason() {
    let app = spawn_app().await;
    let (order_id, refund_id) = pending_refund(&app, "pending-fails@example.com").await;

    let settled = app.stripe.settle_refund(&refund_id, false).await.unwrap();

    assert_eq!(
        settled.iter().map(|d| d.status).collect::<Vec<_>>(),
        [200, 200]
    );
    assert_eq!(app.settled_requests(&order_id).await, ["failed"]);
    let requests = app.refund_requests(&order_id).await;
    assert_eq!(
        requests[0]["failure_reason"],
        stripe_standin::FAILURE_REASON
    );
    assert_eq!(
        received(&app, &order_id).await,
        [
            "refund.created",
            "charge.refunded",
            "refund.updated",
            "refund.failed"
        ]
    );
    let page = app
        .console_page(&format!("/admin/orders?q={order_id}"))
        .await;
    assert!(page.contains(stripe_standin::FAILURE_REASON), "{page}");
    // `charge.refunded` (Stripe counts a pending refund on the charge) moved the order, and
    // its job was called off; a bank's refusal does not send the technician again: the order
    // stays refunded, and the operator is told once (both failure events were applied) that
    // the customer was not repaid.
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(
        crate::money::alerts(&app, &order_id).await,
        ["refund_failed"]
    );
    app.shutdown().await;
}
