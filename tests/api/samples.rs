//! Events built from Stripe's own sample objects (`fixtures3.json`, through
//! `stripe_standin::samples`), one scenario per event type the system acts on: the events
//! that bring a fresh order to the state before (delivered as they are), and the event under
//! test, which a test may mutate before it is signed and delivered.

use serde_json::{Value, json};
use stripe_standin::{samples, sign_payload};

use crate::helpers::{TestApp, WEBHOOK_SECRET};

/// The checkout's total in the tests' stand-in (one line of `price_123`).
pub const TOTAL: i64 = 10_000;
const PARTIAL: i64 = 2_500;

/// An event type the system acts on, in the state it acts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    CompletedPaid,
    CompletedUnpaid,
    AsyncSucceeded,
    AsyncFailed,
    Expired,
    ChargeRefundedFull,
    ChargeRefundedPartial,
    RefundUpdatedFull,
    DisputeCreated,
    DisputeWon,
    DisputeLost,
}

pub const ALL: [Scenario; 11] = [
    Scenario::CompletedPaid,
    Scenario::CompletedUnpaid,
    Scenario::AsyncSucceeded,
    Scenario::AsyncFailed,
    Scenario::Expired,
    Scenario::ChargeRefundedFull,
    Scenario::ChargeRefundedPartial,
    Scenario::RefundUpdatedFull,
    Scenario::DisputeCreated,
    Scenario::DisputeWon,
    Scenario::DisputeLost,
];

/// What a delivery did, as the webhook's caller and the database see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub http: u16,
    pub outcome: String,
    pub order: String,
    pub job: Option<String>,
    pub amount_refunded: i64,
}

/// One order's ids at Stripe, all fresh.
pub struct Order {
    pub order_id: String,
    session: Value,
    pi: String,
    charge: String,
    dispute: String,
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

impl Order {
    /// A checkout through the API; its session, as the stand-in made it from Stripe's sample.
    pub async fn new(app: &TestApp) -> Order {
        let (order_id, session_id) = app.checkout(&format!("{}@example.com", fresh("s"))).await;
        Order {
            order_id,
            session: app.stripe.session(&session_id).expect("the session"),
            pi: fresh("pi_"),
            charge: fresh("ch_"),
            dispute: fresh("dp_"),
        }
    }

    fn session(&self, status: &str, payment_status: &str) -> Value {
        let mut s = self.session.clone();
        s["status"] = json!(status);
        s["payment_status"] = json!(payment_status);
        s["url"] = Value::Null;
        s["payment_intent"] = if status == "complete" {
            json!(self.pi)
        } else {
            Value::Null
        };
        s
    }

    fn dispute(&self, status: &str) -> Value {
        samples::dispute(&self.dispute, &self.charge, &self.pi, TOTAL, status, now())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An event of `event_type` about `object`, with a fresh id.
pub fn event(event_type: &str, object: Value) -> Value {
    samples::event(&fresh("evt_"), event_type, object, now())
}

impl Scenario {
    /// The events before (delivered as they are) and the event under test.
    pub fn events(self, o: &Order) -> (Vec<Value>, Value) {
        use Scenario::*;
        let paid = || event("checkout.session.completed", o.session("complete", "paid"));
        let unpaid = || {
            event(
                "checkout.session.completed",
                o.session("complete", "unpaid"),
            )
        };
        let opened = || event("charge.dispute.created", o.dispute("needs_response"));
        let charge = |refunded| samples::charge(&o.charge, &o.pi, TOTAL, refunded, false, now());
        match self {
            CompletedPaid => (vec![], paid()),
            CompletedUnpaid => (vec![], unpaid()),
            AsyncSucceeded => (
                vec![unpaid()],
                event(
                    "checkout.session.async_payment_succeeded",
                    o.session("complete", "paid"),
                ),
            ),
            AsyncFailed => (
                vec![unpaid()],
                event(
                    "checkout.session.async_payment_failed",
                    o.session("complete", "unpaid"),
                ),
            ),
            Expired => (
                vec![],
                event("checkout.session.expired", o.session("expired", "unpaid")),
            ),
            ChargeRefundedFull => (vec![paid()], event("charge.refunded", charge(TOTAL))),
            ChargeRefundedPartial => (vec![paid()], event("charge.refunded", charge(PARTIAL))),
            RefundUpdatedFull => {
                let refund =
                    samples::refund(&fresh("re_"), &o.charge, &o.pi, TOTAL, "succeeded", now());
                (vec![paid()], event("refund.updated", refund))
            }
            DisputeCreated => (vec![paid()], opened()),
            DisputeWon => (
                vec![paid(), opened()],
                event("charge.dispute.closed", o.dispute("won")),
            ),
            DisputeLost => (
                vec![paid(), opened()],
                event("charge.dispute.closed", o.dispute("lost")),
            ),
        }
    }

    /// What the lifecycle table (docs/reference/statuses.md) says the event under test does (and answers).
    pub fn expected(self) -> (&'static str, &'static str, Option<&'static str>, i64) {
        use Scenario::*;
        match self {
            CompletedPaid | AsyncSucceeded | DisputeWon => ("applied", "paid", Some("ready"), 0),
            CompletedUnpaid => ("applied", "awaiting_payment", Some("awaiting_payment"), 0),
            AsyncFailed => ("applied", "payment_failed", Some("cancelled"), 0),
            Expired => ("applied", "expired", Some("cancelled"), 0),
            ChargeRefundedFull | RefundUpdatedFull => {
                ("applied", "refunded", Some("cancelled"), TOTAL)
            }
            ChargeRefundedPartial => ("no_change", "paid", Some("ready"), PARTIAL),
            DisputeCreated => ("applied", "disputed", Some("on_hold"), 0),
            DisputeLost => ("applied", "dispute_lost", Some("cancelled"), 0),
        }
    }

    pub fn expected_seen(self) -> Seen {
        let (outcome, order, job, amount_refunded) = self.expected();
        Seen {
            http: 200,
            outcome: outcome.into(),
            order: order.into(),
            job: job.map(str::to_owned),
            amount_refunded,
        }
    }

    /// The Stripe object of the event under test (for `stripe::fields::READ`).
    pub fn object(self) -> &'static str {
        use Scenario::*;
        match self {
            ChargeRefundedFull | ChargeRefundedPartial => "charge",
            RefundUpdatedFull => "refund",
            DisputeCreated | DisputeWon | DisputeLost => "dispute",
            _ => "checkout.session",
        }
    }
}

/// Signs `event` as Stripe does and delivers it: the answer's status and body.
pub async fn deliver(app: &TestApp, event: &Value) -> (u16, Value) {
    let payload = serde_json::to_string_pretty(event).unwrap();
    let signature = sign_payload(&payload, WEBHOOK_SECRET, now());
    let answer = app.deliver(&payload, Some(&signature)).await;
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A fresh order brought to the scenario's state, then `target` delivered: what it did.
pub async fn run(app: &TestApp, order: &Order, before: &[Value], target: &Value) -> Seen {
    for e in before {
        let (status, body) = deliver(app, e).await;
        assert_eq!(status, 200, "{body}");
    }
    let (http, body) = deliver(app, target).await;
    let (order_status, amount_refunded): (String, i64) =
        sqlx::query_as("SELECT status, amount_refunded FROM h2s_orders WHERE order_id = $1")
            .bind(&order.order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    Seen {
        http,
        outcome: body["outcome"].as_str().unwrap_or_default().to_owned(),
        order: order_status,
        job: app.job_status(&order.order_id).await,
        amount_refunded,
    }
}
