//! Issue 26's steps: an operator's refund requests and dispatch actions through the admin
//! API, and what the database and the stand-in hold afterwards.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, wait_until};

/// An admin answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub(crate) async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    Answer {
        status,
        body: response.json().await.unwrap_or(Value::Null),
    }
}

impl TestApp {
    /// `POST /api/admin/orders/{order_id}/refunds` with `body`, and the key if given.
    pub async fn request_refund(&self, order_id: &str, body: &Value, key: Option<&str>) -> Answer {
        let mut request = self
            .http
            .post(format!(
                "{}/api/admin/orders/{order_id}/refunds",
                self.base_url
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.expect("refund request")).await
    }

    /// `GET /api/admin/orders/{order_id}/refunds`: the requests.
    pub async fn refund_requests(&self, order_id: &str) -> Vec<Value> {
        let url = format!("{}/api/admin/orders/{order_id}/refunds", self.base_url);
        let body = self.admin_get(url).await;
        body["refunds"]
            .as_array()
            .cloned()
            .expect("a list of requests")
    }

    /// `POST /api/admin/dispatch-jobs/{job_id}/{action}` with `body`.
    pub async fn job_action(&self, job_id: &str, action: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .post(format!(
                "{}/api/admin/dispatch-jobs/{job_id}/{action}",
                self.base_url
            ))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("job action")).await
    }

    /// The order's job id.
    pub async fn job_id(&self, order_id: &str) -> String {
        let id: uuid::Uuid =
            sqlx::query_scalar("SELECT job_id FROM h2s_dispatch_jobs WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(&self.pool)
                .await
                .expect("the order has a job");
        id.to_string()
    }

    /// Books the order's visit through the admin API.
    pub async fn schedule_job(&self, order_id: &str) {
        let job_id = self.job_id(order_id).await;
        let answer = self.job_action(&job_id, "schedule", Some(visit())).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    /// Rows of the order's refunds as recorded (`h2s_refunds`), requests, and the money.
    pub async fn refund_books(&self, order_id: &str) -> Books {
        let count = |table: &str| format!("{table} WHERE order_id = '{order_id}'");
        Books {
            refunds_recorded: self.count(&count("h2s_refunds")).await,
            requests: self.count(&count("h2s_refund_requests")).await,
            amount_refunded: crate::money::amount_refunded(self, order_id).await,
        }
    }

    /// Waits until every refund request of the order is settled, and returns their statuses.
    pub async fn settled_requests(&self, order_id: &str) -> Vec<String> {
        wait_until(
            "the refund requests settle",
            Duration::from_secs(15),
            || async {
                self.count(&format!(
                    "h2s_refund_requests WHERE order_id = '{order_id}' AND status = 'requested'"
                ))
                .await
                    == 0
            },
        )
        .await;
        sqlx::query_scalar(
            "SELECT status FROM h2s_refund_requests WHERE order_id = $1 ORDER BY created_at",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// Refunds the stand-in made for the order's PaymentIntent (replays not counted).
    pub async fn refunds_at_stripe(&self, order_id: &str) -> usize {
        let pi: Option<String> = sqlx::query_scalar(
            "SELECT stripe_payment_intent_id FROM h2s_orders WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        let pi = pi.expect("the order's PaymentIntent");
        (self.stripe.refunds().iter())
            .filter(|r| r["payment_intent"] == pi.as_str())
            .count()
    }

    /// A console page as a logged-in operator sees it (`path` from `/admin`).
    pub async fn console_page(&self, path: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = http
            .post(format!("{}/admin/login", self.base_url))
            .form(&[("token", ADMIN_TOKEN)])
            .send()
            .await
            .unwrap();
        let cookie = login.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let page = http
            .get(format!("{}{path}", self.base_url))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        page.text().await.unwrap()
    }

    /// Waits until the stand-in's refund events for the order were received and applied.
    pub async fn refund_events_applied(&self, order_id: &str, events: i64) {
        wait_until("the refund's events are applied", Duration::from_secs(15), || async {
            self.count(&format!(
                "h2s_stripe_events WHERE order_id = '{order_id}' AND event_type IN ('charge.refunded', 'refund.created')"
            ))
            .await
                >= events
        })
        .await;
    }
}

/// What the books hold for an order.
#[derive(Debug, PartialEq, Eq)]
pub struct Books {
    pub refunds_recorded: i64,
    pub requests: i64,
    pub amount_refunded: i64,
}

/// A visit tomorrow morning.
pub fn visit() -> Value {
    let start = chrono::Utc::now() + chrono::Duration::days(1);
    json!({
        "window_start": start,
        "window_end": start + chrono::Duration::hours(2),
        "technician": "tech-42",
    })
}
