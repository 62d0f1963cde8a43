//! Issue 26 against the real system: the operator's refund requests and the dispatcher's
//! actions through the admin API, and the worker's refund tasks run one at a time (the
//! events Stripe records for each refund kept for the case to deliver).

use serde_json::{Value, json};

use crate::{
    model::{Action, PARTIAL},
    system::{ADMIN_TOKEN, System},
};

impl System {
    pub(crate) async fn operator(&mut self, action: Action) -> Result<(), String> {
        let (url, body, accepted, ok) = match action {
            Action::RequestRefund {
                order,
                full,
                cancel,
                accepted,
            } => {
                let mut body =
                    json!({"reason": "model", "cancel_job": cancel, "override_dispatched": cancel});
                if !full {
                    body["amount"] = json!(PARTIAL);
                }
                let url = format!("/api/admin/orders/{}/refunds", self.orders[order]);
                (url, Some(body), accepted, 202)
            }
            Action::JobAct {
                order,
                act,
                accepted,
            } => {
                let job_id: uuid::Uuid =
                    sqlx::query_scalar("SELECT job_id FROM h2s_dispatch_jobs WHERE order_id = $1")
                        .bind(&self.orders[order])
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| format!("the order's job: {e}"))?;
                let body = match act {
                    crate::script::JobAct::Schedule => {
                        let start = chrono::Utc::now() + chrono::Duration::days(1);
                        Some(
                            json!({"window_start": start, "window_end": start + chrono::Duration::hours(2), "technician": "t-1"}),
                        )
                    }
                    crate::script::JobAct::Cancel => Some(json!({"reason": "model"})),
                    crate::script::JobAct::Complete => None,
                    crate::script::JobAct::CompletePartial => Some(json!({"amount": PARTIAL})),
                };
                let path = act.as_str().split(' ').next().unwrap_or_default();
                let url = format!("/api/admin/dispatch-jobs/{job_id}/{path}");
                (url, body, accepted, 200)
            }
            _ => return Ok(()),
        };
        let mut request = self
            .http
            .post(format!("{}{url}", self.base_url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match (accepted, status) {
            (true, s) if s == ok => Ok(()),
            (false, 409 | 422) => Ok(()),
            _ => Err(format!(
                "{url} answered {status} {body}; the model expected {}",
                if accepted { "it done" } else { "a refusal" }
            )),
        }
    }

    /// Runs every runnable refund task once, oldest first; the events Stripe recorded for
    /// each refund it made go to that order's list.
    pub(crate) async fn drain_refunds(&mut self) {
        let tasks: Vec<(String, String)> = sqlx::query_as(
            r#"
            SELECT j.idempotency_key, r.order_id FROM apalis.jobs j
            JOIN h2s_refund_requests r ON j.idempotency_key = 'refund:' || r.refund_request_id
            WHERE j.status = 'Pending' OR (j.status = 'Failed' AND j.attempts < j.max_attempts)
            ORDER BY j.run_at, j.id
            "#,
        )
        .fetch_all(&self.pool)
        .await
        .expect("the refund tasks");
        for (key, order_id) in tasks {
            let before = self.stripe.events().len();
            self.step(&key, None).await;
            let o = self
                .orders
                .iter()
                .position(|id| id.as_str() == order_id)
                .expect("a known order");
            let made = self.stripe.events().split_off(before);
            self.events[o].extend(made);
        }
    }

    pub(crate) async fn requests(&self, o: usize) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT status FROM h2s_refund_requests WHERE order_id = $1 ORDER BY created_at",
        )
        .bind(&self.orders[o])
        .fetch_all(&self.pool)
        .await
        .expect("the refund requests")
    }
}
