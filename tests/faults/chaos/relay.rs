//! Stripe's webhook deliveries, between the stand-in and the apis: the stand-in sends every
//! event here (its webhook target), and the relay delivers it as Stripe does, signed afresh
//! at each attempt and retried until a 2xx, to either api. The nemesis makes it drop,
//! duplicate, delay or reorder deliveries for a while (the events stay in Stripe's list, where
//! the reconciler finds the dropped ones).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{extract::State, routing::post};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::{chaos::history::History, helpers::WEBHOOK_SECRET};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Drop,
    Duplicate,
    Delay,
    Reorder,
}

/// Share of deliveries a webhook fault hits while it lasts.
const HIT_RATE: f64 = 0.5;

pub struct Relay {
    /// Where the stand-in sends its webhooks.
    pub url: String,
    pub mode: watch::Sender<Mode>,
    /// Deliveries not yet taken by an api.
    pub busy: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Sender {
    http: reqwest::Client,
    apis: Arc<Vec<String>>,
    history: Arc<History>,
    busy: Arc<AtomicUsize>,
}

impl Relay {
    pub async fn start(apis: Vec<String>, history: Arc<History>, seed: u64) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/stripe", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        let app = axum::Router::new()
            .route("/stripe", post(accept))
            .with_state(tx);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (mode, watch) = watch::channel(Mode::Normal);
        let sender = Sender {
            http: crate::chaos::client::http(Duration::from_secs(10)),
            apis: Arc::new(apis),
            history,
            busy: Arc::default(),
        };
        let busy = sender.busy.clone();
        tokio::spawn(dispatch(
            rx,
            watch,
            sender,
            StdRng::seed_from_u64(seed ^ 0x0057_177e),
        ));
        Relay { url, mode, busy }
    }
}

/// Stripe's side: the event is taken (Stripe's own retries are the relay's job).
async fn accept(State(tx): State<mpsc::UnboundedSender<String>>, body: String) -> &'static str {
    let _ = tx.send(body);
    "ok"
}

async fn dispatch(
    mut rx: mpsc::UnboundedReceiver<String>,
    mode: watch::Receiver<Mode>,
    sender: Sender,
    mut rng: StdRng,
) {
    let mut held: Option<String> = None;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
        let body = match next {
            Ok(Some(body)) => body,
            Ok(None) => return,
            // Nothing came to pass a held event: it goes now, late.
            Err(_) => {
                if let Some(late) = held.take() {
                    sender.spawn(late, Duration::ZERO);
                }
                continue;
            }
        };
        let now = *mode.borrow();
        let hit = now != Mode::Normal && rng.random_bool(HIT_RATE);
        match if hit { now } else { Mode::Normal } {
            Mode::Normal => sender.spawn(body, Duration::ZERO),
            Mode::Drop => sender.dropped(&body),
            Mode::Duplicate => {
                sender.spawn(body.clone(), Duration::ZERO);
                sender.spawn(body, Duration::from_millis(rng.random_range(0..1_500)));
            }
            Mode::Delay => {
                sender.spawn(body, Duration::from_millis(rng.random_range(1_000..6_000)))
            }
            Mode::Reorder => {
                // Two in a row held: the earlier goes now, this one after its successor.
                if let Some(earlier) = held.replace(body) {
                    sender.spawn(earlier, Duration::from_millis(300));
                }
            }
        }
        if !hit || now != Mode::Reorder {
            // A held event goes right after the one that overtook it.
            if let Some(late) = held.take() {
                sender.spawn(late, Duration::from_millis(50));
            }
        }
    }
}

fn describe(body: &str) -> (String, Value) {
    let event: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let object = &event["data"]["object"];
    let order = object["metadata"]["order_id"].as_str().unwrap_or_default();
    (
        order.to_owned(),
        json!({"event": event["id"], "event_type": event["type"]}),
    )
}

impl Sender {
    fn dropped(&self, body: &str) {
        let (order, result) = describe(body);
        self.history.op(
            "webhook.dropped",
            &order,
            "relay",
            Instant::now(),
            0,
            result,
        );
    }

    fn spawn(&self, body: String, after: Duration) {
        let sender = self.clone();
        sender.busy.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            sender.deliver(&body).await;
            sender.busy.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Delivers until an api takes it (2xx) or refuses it for good (4xx, which the checker
    /// reports: a correctly signed event is never refused), each attempt signed anew.
    async fn deliver(&self, body: &str) {
        let (order, result) = describe(body);
        let mut pause = Duration::from_millis(250);
        for attempt in 0usize.. {
            let api = attempt % self.apis.len();
            let started = Instant::now();
            let signature =
                stripe_standin::sign_payload(body, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
            let answer = self
                .http
                .post(format!("{}/api/stripe-webhook", self.apis[api]))
                .header("Stripe-Signature", signature)
                .header("Content-Type", "application/json")
                .body(body.to_owned())
                .send()
                .await;
            let status = answer.as_ref().map_or(0, |r| r.status().as_u16());
            let mut result = result.clone();
            if let Err(e) = &answer {
                result["transport_error"] = Value::from(e.to_string());
            }
            self.history.op(
                "webhook",
                &order,
                &format!("api{api}"),
                started,
                status,
                result,
            );
            if (200..500).contains(&status) {
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }
}
