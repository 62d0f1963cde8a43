//! Issue 34: pay after the visit. A manual-capture checkout is held at Stripe (`authorized`,
//! its job `ready`), captured once when its job is completed, released when its job is
//! cancelled, and a lapsed hold gets a new payment link. Stripe's PaymentIntent and charge
//! events are built from Stripe's sample objects and delivered signed through the real
//! webhook; the outbox is driven step by step (no worker), so each test sees the tasks each
//! move writes.

use std::time::Duration;

use serde_json::{Value, json};
use stripe_standin::{PaymentStatus, samples};

use crate::{
    helpers::{Options, TestApp, checkout_body, spawn_app_with},
    refund_steps::visit,
};

pub(crate) const HELD: i64 = 10_000;

pub(crate) async fn app() -> TestApp {
    spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::ZERO,
        ..Options::default()
    })
    .await
}

/// A checkout asking for a hold, its session made by the worker's checkout step, then
/// completed `unpaid` at Stripe (as a card held for manual capture is): `(order, PaymentIntent)`.
pub(crate) async fn held_checkout(app: &TestApp, email: &str) -> (String, String) {
    let mut body = checkout_body(email);
    body["capture"] = json!("manual");
    let accepted = app.post_checkout(&body).await;
    assert_eq!(accepted.status().as_u16(), 202);
    let order_id = accepted.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_tasks().await;
    let session_id = session_of(app, &order_id).await;
    let delivery = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Unpaid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    let payment_intent: String =
        sqlx::query_scalar("SELECT stripe_payment_intent_id FROM h2s_orders WHERE order_id = $1")
            .bind(&order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    (order_id, payment_intent)
}

/// A PaymentIntent event of `event_type`, the object Stripe's sample with these fields.
pub(crate) fn pi_event(id: &str, event_type: &str, pi: &str, fields: Value) -> Value {
    let mut object = samples::filled(
        "payment_intent",
        json!({"id": pi, "amount": HELD, "capture_method": "manual", "livemode": false}),
    );
    if let (Some(o), Value::Object(fields)) = (object.as_object_mut(), fields) {
        o.extend(fields);
    }
    samples::event(id, event_type, object, chrono::Utc::now().timestamp())
}

/// `payment_intent.amount_capturable_updated`: the hold is in place.
pub(crate) fn authorized(id: &str, pi: &str) -> Value {
    pi_event(
        id,
        "payment_intent.amount_capturable_updated",
        pi,
        json!({"status": "requires_capture", "amount_capturable": HELD}),
    )
}

/// `charge.captured` for `amount` of the hold.
pub(crate) fn captured(id: &str, pi: &str, amount: i64) -> Value {
    let charge = samples::charge("ch_held", pi, HELD, 0, false, 0);
    let mut charge = charge;
    charge["amount_captured"] = json!(amount);
    samples::event(
        id,
        "charge.captured",
        charge,
        chrono::Utc::now().timestamp(),
    )
}

pub(crate) async fn deliver(app: &TestApp, event: Value) {
    let delivery = app.stripe.deliver(event).await.unwrap();
    assert_eq!(delivery.status, 200);
}

impl TestApp {
    pub(crate) async fn order_row(&self, order_id: &str) -> Value {
        sqlx::query_scalar("SELECT to_jsonb(o) FROM h2s_orders o WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn feed_events(&self, order_id: &str, event_type: &str) -> i64 {
        self.count(&format!(
            "h2s_events WHERE order_id = '{order_id}' AND event_type = '{event_type}'"
        ))
        .await
    }

    pub(crate) async fn tasks(&self, key_like: &str) -> i64 {
        self.count(&format!(
            "apalis.jobs WHERE idempotency_key LIKE '{key_like}'"
        ))
        .await
    }
}

#[tokio::test]
async fn a_held_payment_is_authorized_with_a_ready_job_and_captured_once_when_the_job_is_done() {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "held@example.com").await;
    assert_eq!(app.order_status(&order_id).await, "awaiting_payment");
    assert_eq!(
        app.tasks(&format!("check_hold:{order_id}:0")).await,
        1,
        "an unpaid completed session of a held order has its PaymentIntent read"
    );

    deliver(&app, authorized("evt_auth_1", &pi)).await;

    assert_eq!(app.order_status(&order_id).await, "authorized");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    let row = app.order_row(&order_id).await;
    assert_eq!(row["amount_capturable"], HELD);
    assert!(row["capture_before"].is_string(), "{row}");
    assert_eq!(app.feed_events(&order_id, "order.authorized").await, 1);
    assert_eq!(
        app.tasks("capture:%").await,
        0,
        "no capture before the visit"
    );
    let console = app
        .console_page(&format!("/admin/orders?q={order_id}"))
        .await;
    assert!(
        console.contains("Payment held: $100.00") && console.contains("h left)"),
        "the console shows the hold: {console}"
    );

    let job_id = app.job_id(&order_id).await;
    let early = app.job_action(&job_id, "complete", None).await;
    assert_eq!((early.status, early.code()), (409, "job_refused"));
    app.job_action(&job_id, "schedule", Some(visit())).await;
    let done = app.job_action(&job_id, "complete", None).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["status"], "completed");
    let again = app.job_action(&job_id, "complete", None).await;
    assert_eq!((again.status, again.code()), (409, "capture_asked"));
    assert_eq!(app.tasks(&format!("capture:{order_id}:0")).await, 1);
    assert_eq!(
        app.order_row(&order_id).await["capture_requested_amount"],
        HELD
    );
    assert_eq!(
        app.order_status(&order_id).await,
        "authorized",
        "until Stripe confirms"
    );

    // Stripe confirms twice (the charge's and the PaymentIntent's events), each delivered
    // twice: the order is paid once, told once.
    let succeeded = pi_event(
        "evt_pi_succeeded",
        "payment_intent.succeeded",
        &pi,
        json!({"status": "succeeded", "amount_received": HELD, "amount_capturable": 0}),
    );
    for event in [captured("evt_captured", &pi, HELD), succeeded.clone()] {
        deliver(&app, event.clone()).await;
        deliver(&app, event).await;
    }
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.order_row(&order_id).await["amount_captured"], HELD);
    assert_eq!(app.feed_events(&order_id, "order.captured").await, 1);
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("completed")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_partial_capture_asks_for_its_amount_and_more_than_the_hold_is_refused_with_nothing_written()
 {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "partial@example.com").await;
    deliver(&app, authorized("evt_auth_p", &pi)).await;
    let job_id = app.job_id(&order_id).await;
    app.job_action(&job_id, "schedule", Some(visit())).await;

    let over = app
        .job_action(&job_id, "complete", Some(json!({"amount": HELD + 1})))
        .await;
    assert_eq!(
        (over.status, over.code()),
        (409, "amount_over_hold"),
        "{}",
        over.body
    );
    assert_eq!(over.body["error"]["field"], "amount");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("scheduled")
    );
    assert_eq!(app.tasks("capture:%").await, 0);

    let done = app
        .job_action(&job_id, "complete", Some(json!({"amount": 6_000})))
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        app.order_row(&order_id).await["capture_requested_amount"],
        6_000
    );
    deliver(&app, captured("evt_captured_p", &pi, 6_000)).await;
    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.order_row(&order_id).await["amount_captured"], 6_000);
    app.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_held_orders_job_releases_the_hold_with_no_refund() {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "release@example.com").await;
    deliver(&app, authorized("evt_auth_r", &pi)).await;
    let job_id = app.job_id(&order_id).await;

    let cancel = app
        .job_action(&job_id, "cancel", Some(json!({"reason": "customer moved"})))
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    assert_eq!(app.tasks(&format!("release:{order_id}:0")).await, 1);

    let canceled = pi_event(
        "evt_pi_canceled",
        "payment_intent.canceled",
        &pi,
        json!({"status": "canceled", "cancellation_reason": "requested_by_customer"}),
    );
    deliver(&app, canceled).await;
    assert_eq!(app.order_status(&order_id).await, "released");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(app.feed_events(&order_id, "order.released").await, 1);
    assert_eq!(app.count("h2s_refund_requests").await, 0);
    assert_eq!(app.order_row(&order_id).await["amount_refunded"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn an_operator_refund_of_a_held_order_releases_the_hold_and_refunds_nothing() {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "refund-held@example.com").await;
    deliver(&app, authorized("evt_auth_rf", &pi)).await;

    let body = json!({"reason": "the customer cancelled"});
    let answer = app.request_refund(&order_id, &body, None).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "releasing");
    assert_eq!(answer.body["refund_request_id"], Value::Null);
    assert_eq!(app.tasks(&format!("release:{order_id}:0")).await, 1);
    assert_eq!(app.count("h2s_refund_requests").await, 0);
    released_at_stripe(&app, &order_id, &pi, "evt_pi_canceled_rf").await;
    app.shutdown().await;
}

/// Stripe confirms the release (`payment_intent.canceled` on request): the order ends
/// `released`, its job `cancelled`.
async fn released_at_stripe(app: &TestApp, order_id: &str, pi: &str, event_id: &str) {
    let canceled = pi_event(
        event_id,
        "payment_intent.canceled",
        pi,
        json!({"status": "canceled", "cancellation_reason": "requested_by_customer"}),
    );
    deliver(app, canceled).await;
    assert_eq!(app.order_status(order_id).await, "released");
    assert_eq!(app.job_status(order_id).await.as_deref(), Some("cancelled"));
}

/// A held order's refund while its visit is booked is refused unless the operator says to
/// cancel the visit, as for a paid order: releasing the hold under a booked visit would
/// send a technician to a customer whose payment was let go.
#[tokio::test]
async fn a_held_orders_refund_with_a_scheduled_visit_needs_the_override_and_cancels_it() {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "refund-held-scheduled@example.com").await;
    deliver(&app, authorized("evt_auth_rs", &pi)).await;
    app.schedule_job(&order_id).await;

    let plain = json!({"reason": "the customer cancelled"});
    let refused = app.request_refund(&order_id, &plain, None).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.code(), "job_scheduled", "{}", refused.body);
    assert_eq!(
        app.tasks(&format!("release:{order_id}:0")).await,
        0,
        "nothing written"
    );
    assert_eq!(app.order_status(&order_id).await, "authorized");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("scheduled")
    );

    let body = json!({"reason": "the customer cancelled", "override_dispatched": true});
    let answer = app.request_refund(&order_id, &body, None).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "releasing");
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );
    assert_eq!(app.tasks(&format!("release:{order_id}:0")).await, 1);
    released_at_stripe(&app, &order_id, &pi, "evt_pi_canceled_rs").await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_lapsed_hold_puts_the_job_on_hold_and_a_new_pay_link_authorizes_it_again() {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "lapse@example.com").await;
    deliver(&app, authorized("evt_auth_l", &pi)).await;
    let early = app.admin_post(pay_link_url(&app, &order_id)).await;
    assert_eq!(early.status().as_u16(), 409, "not lapsed yet");

    let lapsed = pi_event(
        "evt_pi_lapsed",
        "payment_intent.canceled",
        &pi,
        json!({"status": "canceled", "cancellation_reason": "expired"}),
    );
    deliver(&app, lapsed).await;
    assert_eq!(app.order_status(&order_id).await, "authorization_expired");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("on_hold"));
    assert_eq!(
        app.feed_events(&order_id, "order.authorization_expired")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "h2s_operator_alerts WHERE order_id = '{order_id}' AND kind = 'authorization_expired'"
        ))
        .await,
        1
    );

    let link = app.admin_post(pay_link_url(&app, &order_id)).await;
    assert_eq!(link.status().as_u16(), 202);
    let link: Value = link.json().await.unwrap();
    assert_eq!(
        (link["attempt"].clone(), link["status"].clone()),
        (json!(1), json!("pending_payment"))
    );
    let again: Value = app
        .admin_post(pay_link_url(&app, &order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["attempt"], 1, "the same attempt, asked twice");
    app.run_pending_tasks().await;
    assert_eq!(app.stripe.sessions_created_for(&order_id), 2);

    let (_, new_pi) = complete_new_session(&app, &order_id).await;
    assert_ne!(new_pi, pi);
    deliver(&app, authorized("evt_auth_l2", &new_pi)).await;
    assert_eq!(app.order_status(&order_id).await, "authorized");
    assert_eq!(app.job_status(&order_id).await.as_deref(), Some("ready"));
    app.shutdown().await;
}

fn pay_link_url(app: &TestApp, order_id: &str) -> String {
    format!("{}/api/admin/orders/{order_id}/pay-link", app.base_url)
}

/// The order's current Checkout Session.
async fn session_of(app: &TestApp, order_id: &str) -> String {
    sqlx::query_scalar("SELECT stripe_session_id FROM h2s_orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Completes a session at Stripe without delivering its event: `(the event, its PaymentIntent)`.
fn completed_silently(app: &TestApp, session_id: &str, paid: PaymentStatus) -> (Value, String) {
    let completed = app
        .stripe
        .complete_session_silently(session_id, paid)
        .unwrap();
    let pi = completed["data"]["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    (completed, pi)
}

/// Completes the order's current session `unpaid`: `(session, PaymentIntent)`.
async fn complete_new_session(app: &TestApp, order_id: &str) -> (String, String) {
    let session_id = session_of(app, order_id).await;
    let delivery = app
        .stripe
        .complete_session(&session_id, PaymentStatus::Unpaid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    let pi: String =
        sqlx::query_scalar("SELECT stripe_payment_intent_id FROM h2s_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    (session_id, pi)
}

#[tokio::test]
async fn a_hold_nearing_its_end_is_told_once_by_the_sweep() {
    let app = app().await;
    let (order_id, pi) = held_checkout(&app, "nearing@example.com").await;
    deliver(&app, authorized("evt_auth_n", &pi)).await;
    let options = h2s_dispatch::reconcile::settings::SweepOptions::default();
    let far = h2s_dispatch::reconcile::sweep_without_stripe(&app.pool, &options)
        .await
        .unwrap();
    assert_eq!(far.authorizations_expiring, 0, "7 days left");

    sqlx::query(
        "UPDATE h2s_orders SET capture_before = now() + interval '2 hours' WHERE order_id = $1",
    )
    .bind(&order_id)
    .execute(&app.pool)
    .await
    .unwrap();
    for _ in 0..2 {
        h2s_dispatch::reconcile::sweep_without_stripe(&app.pool, &options)
            .await
            .unwrap();
    }
    assert_eq!(
        app.feed_events(&order_id, "order.authorization_expiring")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "h2s_operator_alerts WHERE order_id = '{order_id}' AND kind = 'authorization_expiring'"
        ))
        .await,
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_capture_other_than_automatic_or_manual_is_refused_naming_it_and_writes_nothing() {
    let app = app().await;
    let before = app.rows_written().await;
    let mut body = checkout_body("bad-capture@example.com");
    body["capture"] = json!("later");
    let refused = app.post_checkout(&body).await;
    assert_eq!(refused.status().as_u16(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["field"], "capture");
    assert_eq!(app.rows_written().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn an_automatic_orders_payment_intent_events_change_nothing_even_seen_before_its_session() {
    let app = app().await;
    let accepted = app.post_checkout(&checkout_body("auto@example.com")).await;
    let order_id = accepted.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_tasks().await;
    assert_eq!(
        app.order_row(&order_id).await["capture_method"],
        "automatic"
    );
    let session_id = session_of(&app, &order_id).await;
    // Paid at Stripe, its session's event not delivered yet: the PaymentIntent's comes first
    // (kept until the session names the PaymentIntent), then the session's.
    let (_, pi) = completed_silently(&app, &session_id, PaymentStatus::Paid);
    let succeeded = pi_event(
        "evt_auto_succeeded",
        "payment_intent.succeeded",
        &pi,
        json!({"status": "succeeded", "capture_method": "automatic", "amount_received": HELD}),
    );
    deliver(&app, succeeded).await;
    let completed = app
        .stripe
        .build_event("checkout.session.completed", &session_id)
        .unwrap();
    let answer = app
        .deliver(&completed.payload, Some(&completed.signature_header))
        .await;
    assert_eq!(answer.status().as_u16(), 200);

    assert_eq!(app.order_status(&order_id).await, "paid");
    assert_eq!(app.feed_events(&order_id, "order.paid").await, 1);
    assert_eq!(app.feed_events(&order_id, "order.captured").await, 0);
    assert_eq!(app.tasks("check_hold:%").await, 0);
    app.shutdown().await;
}

/// The three fates of one hold, as Stripe tells them: its authorization, then a capture, a
/// release or a lapse; each with the status its order must end in, and its job.
fn fates(pi: &str, n: usize) -> Vec<(Vec<Value>, &'static str, &'static str)> {
    let id = |what: &str| format!("evt_{what}_{n}");
    let canceled = |reason: &str| {
        pi_event(
            &id(reason),
            "payment_intent.canceled",
            pi,
            json!({"status": "canceled", "cancellation_reason": reason}),
        )
    };
    let expired = samples::event(
        &id("charge_expired"),
        "charge.expired",
        samples::charge("ch_x", pi, HELD, 0, false, 0),
        chrono::Utc::now().timestamp(),
    );
    vec![
        (
            vec![
                authorized(&id("auth"), pi),
                captured(&id("captured"), pi, HELD),
            ],
            "paid",
            "ready",
        ),
        (
            vec![
                authorized(&id("auth"), pi),
                canceled("requested_by_customer"),
            ],
            "released",
            "cancelled",
        ),
        (
            vec![authorized(&id("auth"), pi), canceled("expired"), expired],
            "authorization_expired",
            "on_hold",
        ),
    ]
}

/// Every order of a hold's events with its session's (each permutation), one of them
/// delivered twice: the order ends where the last of Stripe's word puts it, whatever the
/// order of delivery, and the invariant holds (an authorized or paid order has its job).
#[tokio::test]
async fn a_holds_events_in_any_order_and_duplicated_end_the_same() {
    let app = app().await;
    let mut cases = 0;
    for fate in 0..3 {
        for perm in 0..6 {
            let email = format!("perm-{fate}-{perm}@example.com");
            let mut body = checkout_body(&email);
            body["capture"] = json!("manual");
            let accepted: Value = app.post_checkout(&body).await.json().await.unwrap();
            let order_id = accepted["order_id"].as_str().unwrap().to_owned();
            app.run_pending_tasks().await;
            let session_id = session_of(&app, &order_id).await;
            let (completed, pi) = completed_silently(&app, &session_id, PaymentStatus::Unpaid);
            let (events, status, job) = fates(&pi, cases).swap_remove(fate);
            let mut all = vec![completed];
            all.extend(events);
            // The permutation `perm` of the first three events (the rest after), and the
            // permutation's second event delivered again at the end.
            let orders = [
                [0, 1, 2],
                [0, 2, 1],
                [1, 0, 2],
                [1, 2, 0],
                [2, 0, 1],
                [2, 1, 0],
            ];
            let mut sequence: Vec<Value> = orders[perm].iter().map(|i| all[*i].clone()).collect();
            sequence.extend(all[3..].iter().cloned());
            sequence.push(sequence[1].clone());
            for event in sequence {
                deliver(&app, event).await;
            }
            assert_eq!(
                (
                    app.order_status(&order_id).await,
                    app.job_status(&order_id).await
                ),
                (status.to_owned(), Some(job.to_owned())),
                "fate {fate}, permutation {perm}"
            );
            cases += 1;
        }
    }
    assert_eq!(h2s_dispatch::invariant::count(&app.pool).await.unwrap(), 0);
    let told: i64 = app
        .count("h2s_events WHERE event_type IN ('order.captured', 'order.released', 'order.authorization_expired')")
        .await;
    assert_eq!(told, cases as i64, "each hold's end told once");
    app.shutdown().await;
}
