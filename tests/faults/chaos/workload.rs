//! The workload: one task per customer story of the plan, each started at its time. A story
//! checks out (retrying with its `Idempotency-Key`), pays at the stand-in as the customer
//! would (or not, or late, or by a delayed method), and then the dispatcher, the operator and
//! the bank act on the order: visits booked, completed and cancelled, refunds from the
//! console and from Stripe's dashboard, disputes opened and closed.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use stripe_standin::{PaymentStatus, StandIn};

use crate::chaos::{
    client::{Client, Outcome},
    plan::{Payment, Story},
};

/// A job-moving fact the checker folds into the job's expected status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFact {
    Schedule,
    Complete,
    /// A dispatcher's cancel, or a refund request that calls the visit off.
    Cancel,
}

/// What the clients of one story saw: the checker's facts about its order.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub n: usize,
    pub label: String,
    pub key: String,
    pub order_id: Option<String>,
    /// Every order id a 2xx answer to its checkout named (one, if idempotency holds).
    pub answered_ids: Vec<String>,
    pub job_facts: Vec<(JobFact, Outcome)>,
    /// Operator refund requests accepted (202, or a repeat refused as a duplicate).
    pub refund_requests: Vec<String>,
}

#[derive(Clone)]
pub struct Workload {
    pub client: Client,
    pub stripe: Arc<StandIn>,
    pub seed: u64,
}

impl Workload {
    /// Runs every story of `stories` from `start`; their records once all are done.
    pub async fn run(&self, stories: Vec<Story>, start: Instant) -> Vec<Record> {
        let records: Arc<Mutex<Vec<Record>>> = Arc::default();
        let mut tasks = Vec::new();
        for story in stories {
            let (this, records) = (self.clone(), records.clone());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until((start + Duration::from_millis(story.at_ms)).into()).await;
                let record = this.story(&story).await;
                records.lock().unwrap().push(record);
            }));
        }
        for task in tasks {
            task.await.expect("a story task");
        }
        let mut records = records.lock().unwrap().clone();
        records.sort_by_key(|r| r.n);
        records
    }

    async fn story(&self, s: &Story) -> Record {
        let mut r = Record {
            n: s.n,
            label: format!("s{}", s.n),
            key: format!("chaos-{}-{}", self.seed, s.n),
            ..Record::default()
        };
        let Some(order_id) = self.checkout(s, &mut r).await else {
            return r;
        };
        let Some((session, job_id)) = self.wait_for_session(s, &r.label, &order_id).await else {
            return r;
        };
        let paid = self.pay(s, &r.label, &session).await;
        if !paid || !self.wait_paid(s, &r.label, &order_id).await {
            return r;
        }
        for (i, step) in s.steps.iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(s.think_ms)).await;
            self.step(s, &mut r, *step, i, (&order_id, &session, &job_id))
                .await;
        }
        r
    }

    async fn checkout(&self, s: &Story, r: &mut Record) -> Option<String> {
        let email = format!("chaos{}-{}@example.com", s.n, self.seed);
        let body = crate::helpers::checkout_body(&email);
        loop {
            let (answer, _) = self
                .client
                .until_answered(
                    &r.label,
                    "checkout",
                    s.api,
                    "/api/shop",
                    Some(&body),
                    Some(&r.key),
                )
                .await;
            if let Some(id) = answer.body["order_id"].as_str()
                && (200..300).contains(&answer.status)
            {
                r.answered_ids.push(id.to_owned());
                r.order_id = Some(id.to_owned());
                return r.order_id.clone();
            }
            // A 4xx (the checker reports it), or no answer before the deadline.
            if answer.answered() || Instant::now() > self.client.deadline {
                return None;
            }
        }
    }

    /// Polls the order (every `every`, up to 30 s: a dropped webhook waits for the
    /// reconciler) until `done` finds what it waits for in the answer.
    async fn poll_order<T>(
        &self,
        s: &Story,
        label: &str,
        order: &str,
        every: Duration,
        done: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let path = format!("/api/orders/{order}");
        let end = Instant::now() + Duration::from_secs(30);
        for attempt in 0usize.. {
            let answer = self
                .client
                .call(label, "order.get", s.api + attempt, &path, None, None)
                .await;
            if let Some(found) = done(&answer.body) {
                return Some(found);
            }
            if Instant::now() > end {
                return None;
            }
            tokio::time::sleep(every).await;
        }
        None
    }

    /// Waits until the order's session is made; `(session_id, job_id)`.
    async fn wait_for_session(
        &self,
        s: &Story,
        label: &str,
        order: &str,
    ) -> Option<(String, String)> {
        let every = Duration::from_millis(500);
        self.poll_order(s, label, order, every, |b| {
            let session = b["pay"]["session_id"].as_str()?;
            Some((session.to_owned(), b["job_id"].as_str()?.to_owned()))
        })
        .await
    }

    /// The customer at Stripe's page; `true` once the money is Stripe's.
    async fn pay(&self, s: &Story, label: &str, session: &str) -> bool {
        let stripe = &self.stripe;
        match s.payment {
            Payment::Abandon => false,
            Payment::Expire => {
                let done = stripe.expire_session(session).await;
                self.stripe_op(label, "stripe.expire", done.map(|_| ()));
                false
            }
            Payment::Pay => {
                let done = stripe.complete_session(session, PaymentStatus::Paid).await;
                self.stripe_op(label, "stripe.pay", done.map(|_| ()))
            }
            Payment::Delayed { succeeds } => {
                let done = stripe
                    .complete_session(session, PaymentStatus::Unpaid)
                    .await;
                if !self.stripe_op(label, "stripe.pay_delayed", done.map(|_| ())) {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(s.think_ms * 2)).await;
                let done = stripe.async_payment(session, succeeds).await;
                self.stripe_op(label, "stripe.settle", done.map(|_| ())) && succeeds
            }
        }
    }

    /// Records what the stand-in did for a customer or the bank; `true` if it did it.
    pub(super) fn stripe_op(
        &self,
        label: &str,
        kind: &'static str,
        done: anyhow::Result<()>,
    ) -> bool {
        let (status, result) = match &done {
            Ok(()) => (200, Value::Null),
            Err(e) => (400, json!({"error": e.to_string()})),
        };
        self.client
            .history
            .op(kind, label, "stripe", Instant::now(), status, result);
        done.is_ok()
    }

    /// Waits until the order is paid, as an operator would see it before acting.
    async fn wait_paid(&self, s: &Story, label: &str, order: &str) -> bool {
        let every = Duration::from_millis(700);
        let paid = |b: &Value| (b["status"] == "paid").then_some(());
        self.poll_order(s, label, order, every, paid)
            .await
            .is_some()
    }
}
