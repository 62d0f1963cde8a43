//! A steady checkout load on the api, and the figures the failover scenarios print.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::helpers::{Posted, post_checkout};

/// One request of the load: when it was sent (since the load began), its email, its answer.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Duration,
    pub email: String,
    pub posted: Posted,
}

impl Sent {
    pub fn acked(&self) -> bool {
        (200..300).contains(&self.posted.status)
    }
}

/// Checkouts sent at a fixed rate until [`Load::stop`].
pub struct Load {
    pub started: Instant,
    results: Arc<Mutex<Vec<Sent>>>,
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Load {
    pub fn start(base_url: &str, per_sec: u64, prefix: &str) -> Load {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(40))
            .build()
            .expect("http client");
        let results: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let (base_url, prefix, r) = (base_url.to_owned(), prefix.to_owned(), results.clone());
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
            let mut requests = Vec::new();
            for i in 0.. {
                tick.tick().await;
                if *stopped.borrow() {
                    break;
                }
                let (http, base_url, r) = (http.clone(), base_url.clone(), r.clone());
                let email = format!("{prefix}{i}@example.com");
                requests.push(tokio::spawn(async move {
                    let at = started.elapsed();
                    let key = format!("{email}-key");
                    let posted = post_checkout(&http, &base_url, &email, &key).await;
                    r.lock().unwrap().push(Sent { at, email, posted });
                }));
            }
            for request in requests {
                let _ = request.await;
            }
        });
        Load {
            started,
            results,
            stop,
            handle,
        }
    }

    /// Time since the load began.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops sending, waits for every answer, and returns them in the order they were sent.
    pub async fn stop(self) -> Vec<Sent> {
        self.stop.send_replace(true);
        self.handle.await.expect("load");
        let mut results = self.results.lock().unwrap().clone();
        results.sort_by_key(|s| s.at);
        results
    }
}

/// Order ids of the acknowledged (2xx) checkouts.
pub fn acked_ids(results: &[Sent]) -> Vec<String> {
    results
        .iter()
        .filter(|s| s.acked())
        .filter_map(|s| s.posted.order_id.clone())
        .collect()
}

/// Answers, among requests sent in `[from, to)`, that are neither 2xx nor a 503 with the
/// error shape (another 5xx, a 4xx, a dropped connection).
pub fn unexpected(results: &[Sent], from: Duration, to: Duration) -> usize {
    in_window(results, from, to)
        .filter(|s| !(s.acked() || is_refusal(s)))
        .count()
}

/// A 503 with the API's error shape: the one way to refuse during an outage.
fn is_refusal(s: &Sent) -> bool {
    s.posted.status == 503 && crate::helpers::is_error_shape(&s.posted.body)
}

pub fn in_window(results: &[Sent], from: Duration, to: Duration) -> impl Iterator<Item = &Sent> {
    results.iter().filter(move |s| s.at >= from && s.at < to)
}

pub fn count_503(results: &[Sent]) -> usize {
    results.iter().filter(|s| s.posted.status == 503).count()
}

/// Seconds from `since` until checkouts succeed again for good: the send time of the last
/// request after `since` that was not acknowledged (0 when none was refused).
pub fn seconds_to_recover(results: &[Sent], since: Duration) -> f64 {
    results
        .iter()
        .filter(|s| s.at >= since && !s.acked())
        .map(|s| s.at.saturating_sub(since).as_secs_f64())
        .fold(0.0, f64::max)
}

/// Of `ids`, how many orders the database holds.
pub async fn present(pool: &sqlx::PgPool, ids: &[String]) -> i64 {
    sqlx::query_scalar(r#"SELECT count(*) FROM h2s_orders WHERE order_id = ANY($1)"#)
        .bind(ids)
        .fetch_one(pool)
        .await
        .expect("present orders")
}

/// Orders written for any of `emails` (requests that must have written nothing).
pub async fn orders_for(pool: &sqlx::PgPool, emails: &[String]) -> i64 {
    sqlx::query_scalar(r#"SELECT count(*) FROM h2s_orders WHERE customer_email = ANY($1)"#)
        .bind(emails)
        .fetch_one(pool)
        .await
        .expect("orders by email")
}

/// Orders without their checkout task in the outbox: a half-written checkout.
pub async fn orders_without_task(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        r#"
        SELECT count(*) FROM h2s_orders o
        WHERE NOT EXISTS (
            SELECT 1 FROM apalis.jobs j WHERE j.idempotency_key = 'checkout:' || o.order_id
        )
        "#,
    )
    .fetch_one(pool)
    .await
    .expect("orders without task")
}
