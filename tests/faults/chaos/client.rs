//! The clients' side: HTTP calls to the apis, each recorded in the history, and the retry
//! rules a storefront and an operator follow (the same `Idempotency-Key` after an error or a
//! timeout; a job action again until it is answered).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rand::Rng;
use serde_json::{Value, json};

use crate::chaos::{history::History, system::ADMIN_TOKEN};

/// What the client knows of an action's effect once it stops asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Refused,
    /// An attempt went unanswered and a later one was refused: it may have been applied.
    Unknown,
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub apis: Arc<Vec<String>>,
    pub history: Arc<History>,
    /// Nothing is retried past this.
    pub deadline: Instant,
}

/// One answer: its status (0: none came) and body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn answered(&self) -> bool {
        (200..500).contains(&self.status)
    }
}

/// An HTTP client that gives up on an answer after `timeout`.
pub fn http(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client")
}

impl Client {
    pub fn new(apis: Vec<String>, history: Arc<History>, deadline: Instant) -> Client {
        Client {
            http: http(Duration::from_secs(10)),
            apis: Arc::new(apis),
            history,
            deadline,
        }
    }

    /// One request to api `api`, recorded as `kind` of `story`.
    pub async fn call(
        &self,
        story: &str,
        kind: &'static str,
        api: usize,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let api = api % self.apis.len();
        let url = format!("{}{path}", self.apis[api]);
        let mut request = match body {
            Some(body) => self.http.post(url).json(body),
            None => self.http.get(url),
        };
        if path.starts_with("/api/admin") {
            request = request.bearer_auth(ADMIN_TOKEN);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let started = Instant::now();
        let (status, body, error) = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null), None)
            }
            Err(e) => (0, Value::Null, Some(e.to_string())),
        };
        let mut result = json!({"path": path});
        for field in ["order_id", "status", "job_id", "refund_request_id"] {
            if !body[field].is_null() {
                result[field] = body[field].clone();
            }
        }
        if let Some(code) = body["error"]["code"].as_str() {
            result["error"] = Value::from(code);
        }
        if let Some(e) = error {
            result["transport_error"] = Value::from(e);
        }
        let target = format!("api{api}");
        self.history
            .op(kind, story, &target, started, status, result);
        Answer { status, body }
    }

    /// `call` again (alternating apis, after a pause) until it is answered or the deadline
    /// passes; the answer, and whether an earlier attempt went unanswered.
    pub async fn until_answered(
        &self,
        story: &str,
        kind: &'static str,
        first_api: usize,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (Answer, bool) {
        let mut unsure = false;
        for attempt in 0usize.. {
            let answer = self
                .call(story, kind, first_api + attempt, path, body, key)
                .await;
            if answer.answered() || Instant::now() > self.deadline {
                return (answer, unsure);
            }
            unsure = true;
            let pause = rand::rng().random_range(300..1_500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        unreachable!()
    }

    /// A dispatcher's action (schedule, complete, cancel): asked again until answered; a
    /// repeat of an applied action is answered 200 too, so only a refusal after an unanswered
    /// attempt leaves the effect unknown.
    pub async fn job_action(
        &self,
        story: &str,
        kind: &'static str,
        api: usize,
        path: &str,
        body: &Value,
    ) -> Outcome {
        let (answer, unsure) = self
            .until_answered(story, kind, api, path, Some(body), None)
            .await;
        match answer.status {
            200 => Outcome::Applied,
            _ if unsure || !answer.answered() => Outcome::Unknown,
            _ => Outcome::Refused,
        }
    }
}
