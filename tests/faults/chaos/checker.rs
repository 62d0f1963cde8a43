//! The checker of a whole run, after the faults stopped and a final sweep: the orders and
//! their jobs against the stand-in's ground truth, the refunds against what Stripe executed,
//! the event feed against what the receivers got (`feed_check.rs`), and every answer and
//! every process death against the fault windows (`answers.rs`). It counts what it saw for
//! the summary table and lists each breach with the time it was first visible.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use sqlx::PgPool;

use crate::chaos::{
    truth::{Truth, jobs_allowed},
    workload::Record,
};

/// A broken promise, and when it showed (the operation's end, or the check at the end).
#[derive(Debug, Clone)]
pub struct Breach {
    pub at_ms: u64,
    pub what: String,
}

/// What the checker found: counts for the table, and the breaches.
#[derive(Debug, Default)]
pub struct Findings {
    pub counts: BTreeMap<String, i64>,
    pub breaches: Vec<Breach>,
    /// When the checks at the end ran (their breaches carry this time).
    pub end_ms: u64,
}

impl Findings {
    pub fn count(&mut self, what: &str, n: i64) {
        *self.counts.entry(what.to_owned()).or_default() += n;
    }

    pub fn breach(&mut self, at_ms: u64, what: String) {
        self.breaches.push(Breach { at_ms, what });
    }

    /// A breach found by the checks at the end.
    pub fn at_end(&mut self, what: String) {
        let at = self.end_ms;
        self.breach(at, what);
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: String,
    pub status: String,
    pub customer_email: String,
    pub job_link: Option<String>,
    pub meta_link: Option<String>,
    pub amount_refunded: i64,
    pub payment_intent: Option<String>,
    pub jobs: i64,
    pub job_id: Option<String>,
    pub job_status: Option<String>,
}

pub async fn orders(pool: &PgPool) -> Vec<OrderRow> {
    sqlx::query_as(
        r#"
        SELECT o.order_id, o.status, o.customer_email, o.dispatch_job_id::text AS job_link,
               o.metadata_json->>'dispatch_job_id' AS meta_link, o.amount_refunded,
               o.stripe_payment_intent_id AS payment_intent,
               count(j.job_id) AS jobs, min(j.job_id::text) AS job_id, min(j.status) AS job_status
        FROM h2s_orders o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id
        GROUP BY o.order_id
        "#,
    )
    .fetch_all(pool)
    .await
    .expect("the orders")
}

/// Every acknowledged checkout is an order, once; every order has one session at Stripe, one
/// job, the status the money implies and the refunded amount Stripe holds.
pub fn check_orders(f: &mut Findings, rows: &[OrderRow], records: &[Record], truth: &Truth) {
    let by_id: HashMap<&str, &OrderRow> = rows.iter().map(|r| (r.order_id.as_str(), r)).collect();
    let mut per_email: HashMap<&str, i64> = HashMap::new();
    for row in rows {
        *per_email.entry(row.customer_email.as_str()).or_default() += 1;
    }
    let duplicated = per_email.values().filter(|n| **n > 1).count() as i64;
    f.count(
        "checkouts acknowledged",
        records.iter().filter(|r| r.order_id.is_some()).count() as i64,
    );
    f.count("checkouts duplicated", duplicated);
    if duplicated > 0 {
        f.at_end(format!(
            "{duplicated} customers have two orders from one checkout"
        ));
    }
    let mut lost = 0;
    for r in records {
        let distinct: HashSet<&String> = r.answered_ids.iter().collect();
        if distinct.len() > 1 {
            f.at_end(format!(
                "{}: one Idempotency-Key answered two orders {distinct:?}",
                r.label
            ));
        }
        if let Some(id) = &r.order_id
            && !by_id.contains_key(id.as_str())
        {
            lost += 1;
            f.at_end(format!(
                "{}: acknowledged order {id} is not in the database",
                r.label
            ));
        }
    }
    f.count("checkouts lost", lost);
    let facts: HashMap<&str, &Record> = records
        .iter()
        .filter_map(|r| Some((r.order_id.as_deref()?, r)))
        .collect();
    for row in rows {
        check_order(f, row, facts.get(row.order_id.as_str()).copied(), truth);
    }
}

fn check_order(f: &mut Findings, row: &OrderRow, record: Option<&Record>, truth: &Truth) {
    let id = &row.order_id;
    let label = record.map_or("-", |r| r.label.as_str());
    let sessions = truth.sessions.get(id).map_or(&[][..], Vec::as_slice);
    f.count(&format!("orders {}", row.status), 1);
    if sessions.len() != 1 {
        f.at_end(format!(
            "{label}: order {id} has {} sessions at Stripe",
            sessions.len()
        ));
        return;
    }
    if row.jobs != 1 {
        f.at_end(format!(
            "{label}: order {id} has {} dispatch jobs",
            row.jobs
        ));
        return;
    }
    if row.job_link != row.job_id || row.meta_link != row.job_id {
        f.at_end(format!(
            "{label}: order {id} does not name its job in both places"
        ));
    }
    let expected = truth.order_status(&sessions[0]);
    if row.status != expected {
        f.at_end(format!(
            "{label}: order {id} is {} where Stripe says {expected}",
            row.status
        ));
    }
    let pi = row.payment_intent.as_deref().unwrap_or_default();
    let refunded = truth.refunded.get(pi).copied().unwrap_or(0);
    if row.amount_refunded != refunded {
        f.at_end(format!(
            "{label}: order {id} records {} refunded where Stripe refunded {refunded}",
            row.amount_refunded
        ));
    }
    let job = row.job_status.as_deref().unwrap_or_default();
    f.count(&format!("jobs {job}"), 1);
    let allowed = jobs_allowed(
        &row.status,
        record.map_or(&[][..], |r| r.job_facts.as_slice()),
    );
    if !allowed.contains(job) {
        f.at_end(format!(
            "{label}: order {id} ({}) has its job {job}, where {allowed:?} follows from {:?}",
            row.status,
            record.map(|r| &r.job_facts)
        ));
    }
}

/// No refund executed twice at Stripe; each accepted request settled, and succeeded exactly
/// when Stripe made its refund.
pub async fn check_refunds(f: &mut Findings, pool: &PgPool, made: &[Value], records: &[Record]) {
    let mut per_request: HashMap<&str, i64> = HashMap::new();
    for r in made {
        let request = r["metadata"]["h2s_refund_request"]
            .as_str()
            .unwrap_or_default();
        *per_request.entry(request).or_default() += 1;
    }
    let twice = per_request.values().filter(|n| **n > 1).count() as i64;
    f.count("refunds executed at Stripe", made.len() as i64);
    f.count("refunds executed twice", twice);
    for (request, n) in per_request.iter().filter(|(_, n)| **n > 1) {
        f.at_end(format!(
            "refund request {request} executed {n} times at Stripe"
        ));
    }
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT refund_request_id::text, status FROM h2s_refund_requests")
            .fetch_all(pool)
            .await
            .expect("the refund requests");
    let status: HashMap<&str, &str> = rows.iter().map(|(i, s)| (i.as_str(), s.as_str())).collect();
    f.count("refund requests", rows.len() as i64);
    for (id, s) in &rows {
        let at_stripe = per_request.get(id.as_str()).copied().unwrap_or(0);
        let fine = matches!((s.as_str(), at_stripe), ("succeeded", 1) | ("failed", 0));
        if !fine {
            f.at_end(format!(
                "refund request {id} is {s}, with {at_stripe} refunds at Stripe"
            ));
        }
    }
    for r in records {
        for id in r
            .refund_requests
            .iter()
            .filter(|i| !status.contains_key(i.as_str()))
        {
            f.at_end(format!(
                "{}: accepted refund request {id} is not in the database",
                r.label
            ));
        }
    }
}
