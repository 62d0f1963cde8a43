//! The event feed's test kit, shared by `tests/api` and `tests/faults`: receivers on
//! 127.0.0.1 (answering, failing half the time, holding every request, or refusing
//! connections), endpoints, events and deliveries written straight into the tables, and the
//! Standard Webhooks reference library (Python, `tests/events/verify.py`) as the verifier.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use base64::Engine as _;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub at: Instant,
    /// The receiver answered 2xx.
    pub accepted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// 500 half of the time (at random), after keeping the request: the retry is a duplicate
    /// a receiver dedupes on `webhook-id`.
    FailHalf,
    /// Keeps the request and never answers (until the receiver is told to answer).
    Hold,
}

/// An HTTP receiver on 127.0.0.1.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    behaviour: Behaviour,
    released: Arc<AtomicBool>,
    arrived: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            got: Arc::default(),
            behaviour,
            released: Arc::default(),
            arrived: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Requests received so far (a held one counts from its arrival).
    pub fn received_so_far(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    /// A held receiver answers 200 from now on (the requests held included).
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }

    /// The first accepted receipt of each `webhook-id`.
    pub fn first_accepted(&self) -> HashMap<String, Instant> {
        let mut first = HashMap::new();
        for r in self.received().into_iter().filter(|r| r.accepted) {
            first.entry(r.id).or_insert(r.at);
        }
        first
    }

    /// Waits until every id in `ids` was accepted at least once.
    pub async fn wait_all_accepted(&self, ids: &[String], deadline: Duration) -> usize {
        let end = Instant::now() + deadline;
        loop {
            let first = self.first_accepted();
            let n = ids.iter().filter(|id| first.contains_key(*id)).count();
            if n == ids.len() || Instant::now() > end {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
    let record = |accepted: bool| Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        accepted,
    };
    r.arrived.fetch_add(1, Ordering::SeqCst);
    let accepted = match r.behaviour {
        Behaviour::Accept => true,
        Behaviour::FailHalf => rand::random::<bool>(),
        Behaviour::Hold if r.released.load(Ordering::SeqCst) => true,
        Behaviour::Hold => {
            // Kept as it arrives: the sender may be gone before the answer.
            r.got.lock().unwrap().push(record(false));
            while !r.released.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            true
        }
    };
    r.got.lock().unwrap().push(record(accepted));
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// A port nothing listens on: connections are refused.
pub fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/hooks")
}

/// A listener that accepts connections and never reads nor answers (black hole). Kept open
/// while the returned handle lives.
pub async fn black_hole_url() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

/// A fresh `whsec_` secret.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// An enabled endpoint for every event type.
pub async fn endpoint(pool: &PgPool, url: &str, secret: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO h2s_event_endpoints (endpoint_id, url, secret) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(url)
        .bind(secret)
        .execute(pool)
        .await
        .unwrap();
    id
}

/// An event fanned out to `endpoints`, as the event writers do (and the loop notified); its
/// `webhook-id`.
pub async fn event(pool: &PgPool, endpoints: &[Uuid], n: i64) -> String {
    let id = format!("msg_{}", Uuid::new_v4().simple());
    let body = json!({"type": "job.ready", "timestamp": chrono::Utc::now(),
        "data": {"order_id": format!("ord_test_{n}"), "sequence": n}})
    .to_string();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO h2s_events (event_id, event_type, order_id, sequence, body)
         VALUES ($1, 'job.ready', $2, $3, $4)",
    )
    .bind(&id)
    .bind(format!("ord_test_{n}"))
    .bind(n)
    .bind(&body)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO h2s_event_deliveries (event_id, endpoint_id) SELECT $1, unnest($2::uuid[])",
    )
    .bind(&id)
    .bind(endpoints)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(h2s_dispatch::events::CHANNEL)
        .bind(h2s_dispatch::events::WAKE)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// A case for the reference verifier.
pub fn case(secret: &str, r: &Received, body: &str, expect_ok: bool) -> Value {
    json!({
        "secret": secret,
        "headers": {"webhook-id": r.id, "webhook-timestamp": r.timestamp,
                    "webhook-signature": r.signature},
        "body": body,
        "expect": if expect_ok { "ok" } else { "refused" },
    })
}

/// Runs the Standard Webhooks reference library over `cases`; each case's verdict
/// (`true`: verified). Panics if the library is missing (scripts/prepare installs it), if
/// there is no case at all (a test that verifies nothing proves nothing), if the verifier
/// does not print one verdict per case, or if it exits non-zero (a case did not come out
/// as its `expect` says).
pub fn reference_verify(cases: &[Value]) -> Vec<bool> {
    assert!(!cases.is_empty(), "no delivery to verify");
    let python = std::env::var("STANDARDWEBHOOKS_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/h2s-standardwebhooks-1.3.0/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events/verify.py");
    let mut child = std::process::Command::new(&python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python}: {e} (the reference verifier: source scripts/prepare installs it)")
        });
    use std::io::Write as _;
    let input = serde_json::to_vec(cases).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    assert!(
        out.status.success(),
        "the reference verifier exited {}: a case did not come out as expected: {verdicts:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        verdicts.len(),
        cases.len(),
        "one verdict per case: {stdout}"
    );
    verdicts.iter().map(|v| v["ok"] == true).collect()
}

/// Verifies every request `received` (retries included) under `secret` with the reference
/// library: there is at least one, and each verifies.
pub fn verify_all(received: &[Received], secret: &str) {
    let cases: Vec<Value> = received
        .iter()
        .map(|r| case(secret, r, &r.body, true))
        .collect();
    let verdicts = reference_verify(&cases);
    assert_eq!(verdicts.len(), received.len());
    assert!(verdicts.iter().all(|ok| *ok), "{verdicts:?}");
}

/// `p`-th percentile (0–100) of `values`, which it sorts.
pub fn percentile(values: &mut [Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}
