//! The two event-feed receivers: one healthy, one that the nemesis makes fail (500) or stall
//! (answer after the sender's timeout) for a while, and that recovers. Each keeps every
//! request it got, for the checker and the Standard Webhooks reference verifier.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::event_feed::Received;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behave {
    Accept,
    Fail,
    /// Answers 2xx, but only after the worker's delivery timeout (2 s) has passed.
    Stall,
}

/// The flaky receiver wants these types only (the healthy one every type).
pub const FLAKY_TYPES: [&str; 6] = [
    "job.ready",
    "job.cancelled",
    "job.scheduled",
    "job.completed",
    "order.refunded",
    "dispute.opened",
];

#[derive(Clone)]
pub struct Receiver {
    pub name: &'static str,
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub behave: Arc<watch::Sender<Behave>>,
    /// The endpoint's id and signing secret, once registered.
    pub endpoint: Arc<Mutex<Option<(String, String)>>>,
}

impl Receiver {
    pub async fn start(name: &'static str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            name,
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            got: Arc::default(),
            behave: Arc::new(watch::channel(Behave::Accept).0),
            endpoint: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// Registers it as an event endpoint through the admin API (`types`: `None` for all).
    pub async fn register(&self, api: &str, types: Option<&[&str]>) {
        let mut body = json!({"url": self.url});
        if let Some(types) = types {
            body["event_types"] = json!(types);
        }
        let answer: Value = reqwest::Client::new()
            .post(format!("{api}/api/admin/event-endpoints"))
            .bearer_auth(crate::chaos::system::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("registering an endpoint")
            .json()
            .await
            .expect("the endpoint's answer");
        let id = answer["id"].as_str().expect("an endpoint id").to_owned();
        let secret = answer["secret"].as_str().expect("a secret").to_owned();
        *self.endpoint.lock().unwrap() = Some((id, secret));
    }

    pub fn endpoint(&self) -> (String, String) {
        self.endpoint.lock().unwrap().clone().expect("registered")
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let behave = *r.behave.borrow();
    if behave == Behave::Stall {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    r.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        // A stalled answer comes after the sender gave up: it does not count as taken.
        accepted: behave == Behave::Accept,
    });
    match behave {
        Behave::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::NO_CONTENT,
    }
}
