//! The load client: closed-loop (N clients back to back) and open-loop (a fixed offered rate,
//! latency measured from each request's scheduled start, so a slow server cannot hide its
//! queueing: no coordinated omission).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::Value;

/// One request to send.
#[derive(Clone)]
pub struct Req {
    pub url: String,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Default, Debug)]
pub struct Stats {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
    pub transport_errors: usize,
    /// `order_id` of each 2xx answer that carried one.
    pub order_ids: Vec<String>,
    /// `pay.session_id` of each 2xx answer that carried one.
    pub session_ids: Vec<String>,
}

impl Stats {
    pub fn count(&self) -> usize {
        self.latencies.len()
    }
    pub fn per_sec(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn status(&self, s: u16) -> usize {
        self.statuses.get(&s).copied().unwrap_or(0)
    }
    pub fn ok_2xx(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
    /// The `p`-th percentile in milliseconds.
    pub fn pct_ms(&mut self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.sort_unstable();
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank].as_secs_f64() * 1e3
    }
    pub fn statuses_text(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        if self.transport_errors > 0 {
            parts.push(format!("errors×{}", self.transport_errors));
        }
        parts.join(" ")
    }
    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.order_ids.extend(other.order_ids);
        self.session_ids.extend(other.session_ids);
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(4096)
        .http1_only()
        .build()
        .expect("http client")
}

async fn send(http: &reqwest::Client, req: Req, keep_ids: bool) -> (Option<u16>, Option<Value>) {
    let mut builder = http
        .post(&req.url)
        .header("Content-Type", "application/json")
        .body(req.body);
    for (k, v) in req.headers {
        builder = builder.header(k, v);
    }
    match builder.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            if keep_ids {
                let body = r.json::<Value>().await.ok();
                (Some(status), body)
            } else {
                let _ = r.bytes().await;
                (Some(status), None)
            }
        }
        Err(_) => (None, None),
    }
}

fn record(stats: &mut Stats, latency: Duration, status: Option<u16>, body: Option<Value>) {
    stats.latencies.push(latency);
    match status {
        Some(s) => {
            *stats.statuses.entry(s).or_default() += 1;
            if let Some(b) = body
                && (200..300).contains(&s)
            {
                if let Some(id) = b["order_id"].as_str() {
                    stats.order_ids.push(id.to_owned());
                }
                if let Some(id) = b["pay"]["session_id"].as_str() {
                    stats.session_ids.push(id.to_owned());
                }
            }
        }
        None => stats.transport_errors += 1,
    }
}

/// `concurrency` clients, each on its own keep-alive connection (`wire`), sending its next
/// request as soon as the last is answered, for `duration` or until `make` returns `None`.
pub async fn closed_loop(
    concurrency: usize,
    duration: Duration,
    keep_ids: bool,
    make: impl Fn(u64) -> Option<Req> + Send + Sync + 'static,
) -> Stats {
    let make = Arc::new(make);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + duration;
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (make, next) = (make.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut conn = crate::wire::Conn::new();
            while Instant::now() < end {
                let Some(req) = make(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let t = Instant::now();
                let (status, body) = match conn.send(&req, keep_ids).await {
                    Ok(answer) => (
                        Some(answer.status),
                        answer.body.and_then(|b| serde_json::from_slice(&b).ok()),
                    ),
                    Err(_) => (None, None),
                };
                record(&mut stats, t.elapsed(), status, body);
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for c in clients {
        total.merge(c.await.expect("client task"));
    }
    total.elapsed = started.elapsed();
    total
}

/// Requests at `rate` per second for `duration`, each on its own task; latency counts from
/// the moment the request was due.
pub async fn open_loop(
    http: &reqwest::Client,
    rate: f64,
    duration: Duration,
    keep_ids: bool,
    make: impl Fn(u64) -> Req,
) -> Stats {
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, req) = (http.clone(), make(i));
        tasks.push(tokio::spawn(async move {
            let (status, body) = send(&http, req, keep_ids).await;
            (due.elapsed(), status, body)
        }));
    }
    let mut stats = Stats::default();
    for t in tasks {
        let (latency, status, body) = t.await.expect("request task");
        record(&mut stats, latency, status, body);
    }
    stats.elapsed = started.elapsed();
    stats
}

/// A storefront checkout body; `n` varies the email (and the caller the idempotency key).
pub fn checkout_body(run: &str, n: u64) -> String {
    format!(
        r#"{{"__action":"create_checkout_session","customer":{{"email":"bench+{run}-{n}@example.com","name":"Ann","phone":"+15551234567"}},"cart":[{{"price_id":"price_123","qty":1}}],"metadata":{{"service_address":"123 Test St"}},"success_url":"https://shop.example/thanks","cancel_url":"https://shop.example/cart"}}"#
    )
}

pub fn checkout_req(base_url: &str, run: &str, n: u64) -> Req {
    Req {
        url: format!("{base_url}/api/shop"),
        body: checkout_body(run, n),
        headers: vec![("Idempotency-Key", format!("bench-{run}-{n}"))],
    }
}
