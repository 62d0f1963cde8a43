//! Ground truth and what it implies: the stand-in's sessions and events say where each
//! order's money is (paid, refunded how much, disputed, lost); the contract says which order
//! status and which job status follow, the job's given what the dispatcher and the operator
//! were acknowledged to have done to it.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use crate::chaos::{client::Outcome, workload::JobFact};

/// What Stripe (the stand-in) holds at the end.
pub struct Truth {
    pub sessions: HashMap<String, Vec<Value>>,
    async_failed: HashSet<String>,
    /// Refunded so far, by PaymentIntent (the charge's `amount_refunded`).
    pub refunded: HashMap<String, i64>,
    /// `None`: open; `Some(won)`: closed.
    disputes: HashMap<String, Option<bool>>,
}

impl Truth {
    pub fn read(sessions: &[Value], events: &[Value]) -> Truth {
        let mut by_order: HashMap<String, Vec<Value>> = HashMap::new();
        for s in sessions {
            if let Some(order) = s["metadata"]["order_id"].as_str() {
                by_order
                    .entry(order.to_owned())
                    .or_default()
                    .push(s.clone());
            }
        }
        let mut truth = Truth {
            sessions: by_order,
            async_failed: HashSet::new(),
            refunded: HashMap::new(),
            disputes: HashMap::new(),
        };
        for e in events {
            let object = &e["data"]["object"];
            let pi = object["payment_intent"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match e["type"].as_str().unwrap_or_default() {
                "checkout.session.async_payment_failed" => {
                    let id = object["id"].as_str().unwrap_or_default();
                    truth.async_failed.insert(id.to_owned());
                }
                "charge.refunded" => {
                    let amount = object["amount_refunded"].as_i64().unwrap_or(0);
                    let seen = truth.refunded.entry(pi).or_default();
                    *seen = (*seen).max(amount);
                }
                "charge.dispute.created" => {
                    truth.disputes.insert(pi, None);
                }
                "charge.dispute.closed" => {
                    truth.disputes.insert(pi, Some(object["status"] == "won"));
                }
                _ => {}
            }
        }
        truth
    }

    /// The order status the money implies for the order's one session.
    pub fn order_status(&self, session: &Value) -> &'static str {
        let id = session["id"].as_str().unwrap_or_default();
        match (
            session["status"].as_str().unwrap_or_default(),
            session["payment_status"].as_str().unwrap_or_default(),
        ) {
            ("open", _) => "pending_payment",
            ("expired", _) => "expired",
            ("complete", "paid") => {
                let pi = session["payment_intent"].as_str().unwrap_or_default();
                let total = session["amount_total"].as_i64().unwrap_or(0);
                let refunded = self.refunded.get(pi).copied().unwrap_or(0);
                match self.disputes.get(pi) {
                    _ if refunded >= total => "refunded",
                    Some(Some(false)) => "dispute_lost",
                    Some(None) => "disputed",
                    _ => "paid",
                }
            }
            _ if self.async_failed.contains(id) => "payment_failed",
            _ => "awaiting_payment",
        }
    }
}

/// The job status an order status implies when nobody acted on the job (SPEC).
fn job_for_order(order: &str) -> &'static str {
    match order {
        "paid" => "ready",
        "disputed" => "on_hold",
        "pending_payment" | "awaiting_payment" => "awaiting_payment",
        _ => "cancelled",
    }
}

/// The job's status given the order's and the actions applied to the job, in order: a
/// completed visit stays completed; one an operator called off stays cancelled; a booked
/// one is moved by money going back only into a hold (a lost dispute ends it), never by a
/// refund.
fn job_status(order: &str, applied: impl Iterator<Item = JobFact>) -> &'static str {
    let (mut scheduled, mut completed, mut cancelled) = (false, false, false);
    for fact in applied {
        match fact {
            JobFact::Schedule if !cancelled && !completed => scheduled = true,
            JobFact::Complete if scheduled && !cancelled => completed = true,
            JobFact::Cancel if !completed => cancelled = true,
            _ => {}
        }
    }
    match (completed, cancelled, scheduled, order) {
        (true, ..) => "completed",
        (_, true, ..) => "cancelled",
        (_, _, true, "disputed") => "on_hold",
        (_, _, true, "dispute_lost") => "cancelled",
        (_, _, true, _) => "scheduled",
        _ => job_for_order(order),
    }
}

/// Every job status the order's facts allow: an action of unknown outcome may or may not
/// have been applied.
pub fn jobs_allowed(order: &str, facts: &[(JobFact, Outcome)]) -> BTreeSet<&'static str> {
    let unknown: Vec<usize> = (0..facts.len())
        .filter(|i| facts[*i].1 == Outcome::Unknown)
        .collect();
    let mut allowed = BTreeSet::new();
    for mask in 0u32..(1 << unknown.len().min(8)) {
        let applied = facts.iter().enumerate().filter_map(|(i, (fact, outcome))| {
            let taken = match outcome {
                Outcome::Applied => true,
                Outcome::Refused => false,
                Outcome::Unknown => {
                    let bit = unknown.iter().position(|u| *u == i).unwrap_or(0);
                    mask & (1 << bit) != 0
                }
            };
            taken.then_some(*fact)
        });
        allowed.insert(job_status(order, applied));
    }
    allowed
}

#[test]
fn the_job_follows_the_money_except_where_the_contract_says_it_stays() {
    use JobFact::*;
    use Outcome::*;
    let only = |s: &'static str| BTreeSet::from([s]);
    assert_eq!(jobs_allowed("paid", &[]), only("ready"));
    assert_eq!(
        jobs_allowed("refunded", &[(Schedule, Applied)]),
        only("scheduled")
    );
    assert_eq!(
        jobs_allowed("disputed", &[(Schedule, Applied)]),
        only("on_hold")
    );
    assert_eq!(
        jobs_allowed("disputed", &[(Cancel, Applied)]),
        only("cancelled")
    );
    let done = [(Schedule, Applied), (Complete, Applied), (Cancel, Refused)];
    assert_eq!(jobs_allowed("refunded", &done), only("completed"));
    let maybe = [(Schedule, Unknown)];
    assert_eq!(
        jobs_allowed("paid", &maybe),
        BTreeSet::from(["ready", "scheduled"])
    );
}
