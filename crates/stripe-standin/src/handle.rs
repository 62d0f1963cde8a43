//! The handle a test (or `api --dev`) holds: starts the server, changes its settings, drives
//! sessions as a customer would, and reads what the stand-in received.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::change::{self, PaymentStatus};
use crate::config::{StandInConfig, WebhookTarget};
use crate::faults::{Fault, Faults};
use crate::state::Shared;
use crate::webhook::{self, Delivery, SignedEvent};
use crate::{objects, routes};

/// A running stand-in. Dropping it stops the server; `shutdown` stops it gracefully.
pub struct StandIn {
    addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl StandIn {
    pub async fn spawn(config: StandInConfig) -> anyhow::Result<StandIn> {
        let bind = config
            .bind
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the Stripe stand-in to {bind}"))?;
        let mut addr = listener
            .local_addr()
            .context("reading the stand-in's address")?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let public_base_url = match config.public_base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        };
        let shared = Arc::new(Shared::new(public_base_url, config.webhook, config.latency));
        let app = routes::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "Stripe stand-in stopped");
            }
        });
        tracing::info!(%addr, "Stripe stand-in listening");
        Ok(StandIn {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: scheme, host and port, no path.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The sandbox shop's own thank-you and cart pages (`/shop/thanks`, `/shop/cart`) at the
    /// public base URL: `api --dev`'s return URLs for a checkout that sends none.
    pub fn shop_return_urls(&self) -> (String, String) {
        let base = &self.shared.public_base_url;
        (format!("{base}/shop/thanks"), format!("{base}/shop/cart"))
    }

    pub fn set_webhook_target(&self, target: WebhookTarget) {
        self.shared.lock().webhook = Some(target);
    }

    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().latency = d;
    }

    pub fn set_faults(&self, f: Faults) {
        self.shared.lock().faults = f;
    }

    /// The next API call consumes this fault (FIFO across pushes), before any random fault.
    pub fn push_fault(&self, f: Fault) {
        self.shared.lock().scripted.push_back(f);
    }

    /// Creating a session with this price answers 400 `resource_missing`.
    pub fn add_unknown_price(&self, price_id: &str) {
        self.shared
            .lock()
            .unknown_prices
            .insert(price_id.to_owned());
    }

    /// Any other price costs 10_000 (cents, usd).
    pub fn set_price(&self, price_id: &str, unit_amount: i64) {
        self.shared
            .lock()
            .prices
            .insert(price_id.to_owned(), unit_amount);
    }

    /// Distinct sessions created whose `metadata.order_id` is `order_id`.
    pub fn sessions_created_for(&self, order_id: &str) -> usize {
        let inner = self.shared.lock();
        inner
            .sessions()
            .iter()
            .filter(|s| s["metadata"]["order_id"] == order_id)
            .count()
    }

    /// API calls received per endpoint (`"GET /v1/events"`, `"GET /v1/checkout/sessions/{id}"`,
    /// ...), faulted ones included.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.shared.lock().calls.clone()
    }

    /// API calls received, all endpoints.
    pub fn total_calls(&self) -> usize {
        self.shared.lock().calls.values().sum()
    }

    /// Forgets the per-endpoint call counts.
    pub fn reset_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// `POST /v1/checkout/sessions` requests received, faulted and replayed ones included.
    pub fn create_calls(&self) -> usize {
        self.shared.lock().create_calls
    }

    pub fn session(&self, id: &str) -> Option<Value> {
        self.shared.lock().session(id).cloned()
    }

    /// All sessions, in creation order.
    pub fn sessions(&self) -> Vec<Value> {
        self.shared.lock().sessions().to_vec()
    }

    /// Events recorded so far (completions, expiries, async payments), oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().events.clone()
    }

    /// The most API calls received within any one-second window.
    pub fn calls_per_second_peak(&self) -> usize {
        self.shared.lock().peak_per_sec
    }

    /// 429s answered (random limiter and scripted).
    pub fn rate_limited_count(&self) -> usize {
        self.shared.lock().rate_limited
    }

    /// Marks an open session complete, records `checkout.session.completed`, signs it and POSTs
    /// it to the webhook target. `Delivery::status` is the target's answer (0: no target set).
    /// A session created with `payment_intent_data[capture_method]=manual` and paid
    /// ([`PaymentStatus::Paid`]: by card) is only authorized: it completes `unpaid`, its
    /// PaymentIntent `requires_capture`, and `charge.succeeded` (uncaptured) and
    /// `payment_intent.amount_capturable_updated` are delivered first.
    pub async fn complete_session(
        &self,
        session_id: &str,
        payment_status: PaymentStatus,
    ) -> anyhow::Result<Delivery> {
        self.shared
            .complete(session_id, payment_status.as_str())
            .await
    }

    /// Marks an open session complete and records `checkout.session.completed` (listed by
    /// `GET /v1/events`) without sending it: a webhook Stripe never delivered. A
    /// manual-capture session's hold events are recorded (unsent) before it; the session
    /// event is returned.
    pub fn complete_session_silently(
        &self,
        session_id: &str,
        payment_status: PaymentStatus,
    ) -> anyhow::Result<Value> {
        let mut events = self
            .shared
            .lock()
            .complete_session(session_id, payment_status.as_str())
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(events.pop().expect("the session's event comes last"))
    }

    /// An open session → `expired`, recording `checkout.session.expired` (listed by
    /// `GET /v1/events`) without sending it.
    pub fn expire_session_silently(&self, session_id: &str) -> anyhow::Result<Value> {
        self.shared
            .transition(session_id, "checkout.session.expired", change::expire)
            .map_err(|e| anyhow::anyhow!(e.message))
    }

    /// An open session → `expired`, with `checkout.session.expired`.
    pub async fn expire_session(&self, session_id: &str) -> anyhow::Result<Delivery> {
        self.shared.expire(session_id).await
    }

    /// A complete session's delayed payment settles: `checkout.session.async_payment_succeeded`
    /// (payment_status `paid`) or `_failed` (`unpaid`).
    pub async fn async_payment(
        &self,
        session_id: &str,
        succeeded: bool,
    ) -> anyhow::Result<Delivery> {
        self.shared.async_payment(session_id, succeeded).await
    }

    /// A signed event of any type around the session as it is now, neither sent nor recorded
    /// nor changing the session: for tests that deliver duplicates, races or out-of-order events.
    pub fn build_event(&self, event_type: &str, session_id: &str) -> anyhow::Result<SignedEvent> {
        let inner = self.shared.lock();
        let secret = inner
            .webhook
            .as_ref()
            .map(|t| t.secret.clone())
            .context("no webhook target (and so no secret) is set")?;
        let session = inner
            .session(session_id)
            .cloned()
            .with_context(|| format!("no session {session_id}"))?;
        let event = objects::event_json(event_type, session, chrono::Utc::now().timestamp());
        Ok(webhook::sign_event(&event, &secret))
    }

    /// Refunds `amount` of a paid session (all that is left: `None`), recording
    /// `charge.refunded` and `refund.updated`; returned, not sent.
    pub fn refund_silently(
        &self,
        session_id: &str,
        amount: Option<i64>,
    ) -> anyhow::Result<Vec<Value>> {
        self.shared
            .refund(session_id, amount)
            .map_err(anyhow::Error::msg)
    }

    /// Opens a dispute on a paid session's charge (`charge.dispute.created`); not sent.
    pub fn open_dispute_silently(&self, session_id: &str) -> anyhow::Result<Value> {
        self.shared
            .open_dispute(session_id)
            .map_err(anyhow::Error::msg)
    }

    /// Closes the open dispute, won or lost (`charge.dispute.closed`); not sent.
    pub fn close_dispute_silently(&self, session_id: &str, won: bool) -> anyhow::Result<Value> {
        self.shared
            .close_dispute(session_id, won)
            .map_err(anyhow::Error::msg)
    }

    /// Signs `event` with the webhook target's secret and POSTs it there.
    pub async fn deliver(&self, event: Value) -> anyhow::Result<Delivery> {
        self.shared.deliver(event).await
    }

    /// Stops accepting, lets calls in flight finish (up to 2 s), then stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for StandIn {
    /// Stops accepting at once; kept-alive connections are told to close once idle.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
