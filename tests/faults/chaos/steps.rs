//! A story's steps after the payment: the dispatcher's actions on the job, the operator's
//! refunds from the console, and the bank's refunds and disputes (made at the stand-in and
//! sent as Stripe's webhooks, through the relay).

use std::time::Duration;

use serde_json::{Value, json};

use crate::chaos::{
    client::Outcome,
    plan::{Step, Story},
    workload::{JobFact, Record, Workload},
};

impl Workload {
    pub(super) async fn step(
        &self,
        s: &Story,
        r: &mut Record,
        step: Step,
        i: usize,
        ids: (&str, &str, &str),
    ) {
        let (order, session, job) = ids;
        let label = r.label.clone();
        let job_path = |action: &str| format!("/api/admin/dispatch-jobs/{job}/{action}");
        match step {
            Step::Schedule => {
                let start = chrono::Utc::now() + chrono::TimeDelta::days(1);
                let body = json!({"window_start": start, "window_end": start + chrono::TimeDelta::hours(2),
                    "technician": format!("tech-{}", s.n % 7)});
                let o = self
                    .client
                    .job_action(&label, "job.schedule", s.api, &job_path("schedule"), &body)
                    .await;
                r.job_facts.push((JobFact::Schedule, o));
            }
            Step::Complete => {
                let o = self
                    .client
                    .job_action(
                        &label,
                        "job.complete",
                        s.api,
                        &job_path("complete"),
                        &json!({}),
                    )
                    .await;
                r.job_facts.push((JobFact::Complete, o));
            }
            Step::Cancel => {
                let body = json!({"reason": "customer called"});
                let o = self
                    .client
                    .job_action(&label, "job.cancel", s.api, &job_path("cancel"), &body)
                    .await;
                r.job_facts.push((JobFact::Cancel, o));
            }
            Step::DashboardRefund { full } => {
                let events = self
                    .stripe
                    .refund_silently(session, (!full).then_some(2_500));
                self.deliver(&label, "stripe.refund", events).await;
            }
            Step::OperatorRefund { full, cancel_job } => {
                self.operator_refund(s, r, order, (full, cancel_job), i)
                    .await;
            }
            Step::Dispute { won } => {
                let opened = self.stripe.open_dispute_silently(session).map(|e| vec![e]);
                if self.deliver(&label, "stripe.dispute_open", opened).await {
                    tokio::time::sleep(Duration::from_millis(s.think_ms * 2)).await;
                    let closed = self
                        .stripe
                        .close_dispute_silently(session, won)
                        .map(|e| vec![e]);
                    self.deliver(&label, "stripe.dispute_close", closed).await;
                }
            }
        }
    }

    /// Sends the bank's events (made at the stand-in) to the webhook relay.
    async fn deliver(
        &self,
        label: &str,
        kind: &'static str,
        events: anyhow::Result<Vec<Value>>,
    ) -> bool {
        let events = match events {
            Ok(events) => events,
            Err(e) => return self.stripe_op(label, kind, Err(e)),
        };
        for event in events {
            let _ = self.stripe.deliver(event).await;
        }
        self.stripe_op(label, kind, Ok(()))
    }

    async fn operator_refund(
        &self,
        s: &Story,
        r: &mut Record,
        order: &str,
        how: (bool, bool),
        i: usize,
    ) {
        let (full, cancel_job) = how;
        let mut body =
            json!({"reason": "chaos", "cancel_job": cancel_job, "override_dispatched": true});
        if !full {
            body["amount"] = json!(2_500);
        }
        let key = format!("{}-refund-{i}", r.key);
        let path = format!("/api/admin/orders/{order}/refunds");
        let (answer, unsure) = self
            .client
            .until_answered(
                &r.label,
                "refund.operator",
                s.api,
                &path,
                Some(&body),
                Some(&key),
            )
            .await;
        let duplicate = answer.body["error"]["code"] == "duplicate_request";
        let outcome = match answer.status {
            202 => Outcome::Applied,
            409 if duplicate && unsure => Outcome::Applied,
            _ if unsure || !answer.answered() => Outcome::Unknown,
            _ => Outcome::Refused,
        };
        if let Some(id) = answer.body["refund_request_id"].as_str() {
            r.refund_requests.push(id.to_owned());
        }
        if full || cancel_job {
            r.job_facts.push((JobFact::Cancel, outcome));
        }
    }
}
