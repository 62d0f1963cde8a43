//! The HTTP client behind async-stripe's request builders.
//!
//! async-stripe's own hyper client hides the response headers (so `Retry-After` cannot be
//! honoured), opens a new connection per request, and has no timeout by default. This client
//! implements async-stripe's `StripeClient` trait over reqwest (rustls, keep-alive pool) with
//! a per-attempt timeout and a process-wide rate cap, and reports failures as typed errors
//! that say whether a retry can help. It never retries by itself: the outbox does, with the
//! same idempotency key.

mod answer;
mod error;

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use stripe_client_core::{CustomizedStripeRequest, StripeClient, StripeMethod};

use error::transport_error;
pub use error::{Blame, StripeCallError};

/// The Stripe API version this build speaks (the one async-stripe 1.0.0-rc.10 parses).
pub const API_VERSION: &str = "2026-09-30.endive";

/// Settings of the Stripe client.
#[derive(Clone)]
pub struct StripeClientConfig {
    pub secret_key: SecretString,
    /// Scheme, host and port, e.g. `https://api.stripe.com`.
    pub api_base: String,
    pub timeout: Duration,
    /// Calls per second for this process; `None`: no cap.
    pub max_rps: Option<u32>,
}

#[derive(Clone)]
pub struct StripeHttp {
    http: reqwest::Client,
    base: String,
    secret: SecretString,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl std::fmt::Debug for StripeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeHttp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl StripeHttp {
    pub fn new(config: StripeClientConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("h2s-dispatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let limiter = config
            .max_rps
            .and_then(NonZeroU32::new)
            // No burst, and 2 % slack: calls leave at least 1.02/n s apart, so no one-second
            // window, however aligned, sees more than n of them at Stripe even with a few ms
            // of jitter on the way (a burst of n would allow ~2n in some window).
            .map(|n| {
                let period = Duration::from_secs(1).mul_f64(1.02) / n.get();
                let quota = Quota::with_period(period)
                    .expect("a positive period")
                    .allow_burst(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(quota))
            });
        Ok(StripeHttp {
            http,
            base: config.api_base.trim_end_matches('/').to_owned(),
            secret: config.secret_key,
            limiter,
        })
    }

    /// `GET /v1{path}?{query}`, the answer as JSON: for the list calls whose answers we parse
    /// leniently (events of any API version), which async-stripe's typed requests would not.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<serde_json::Value, StripeCallError> {
        let mut req = stripe_client_core::RequestBuilder::new(StripeMethod::Get, path);
        if !query.is_empty() {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            req.query = Some(encoded);
        }
        self.send_json(req, None).await
    }

    /// A request built by async-stripe's generated types (Stripe's OpenAPI description), its
    /// answer as JSON: answers are read by this system's own readers, which accept any API
    /// version (async-stripe's typed answers refuse or log values newer than its own).
    pub async fn send_json(
        &self,
        req: stripe_client_core::RequestBuilder,
        idempotency_key: Option<stripe_client_core::IdempotencyKey>,
    ) -> Result<serde_json::Value, StripeCallError> {
        let bytes = self.send_parts(req, idempotency_key, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| StripeCallError::Decode(e.to_string()))
    }

    /// `POST /v1{path}` with a form `body` under `idempotency_key`, the answer as JSON: for
    /// the refunds, whose answers we read leniently as their events are.
    pub async fn post_form(
        &self,
        path: &str,
        body: String,
        idempotency_key: &str,
    ) -> Result<serde_json::Value, StripeCallError> {
        let mut req = stripe_client_core::RequestBuilder::new(StripeMethod::Post, path);
        req.body = Some(body);
        let key = stripe_client_core::IdempotencyKey::new(idempotency_key)
            .map_err(|e| StripeCallError::Decode(format!("idempotency key: {e}")))?;
        let bytes = self.send_parts(req, Some(key), None).await?;
        serde_json::from_slice(&bytes).map_err(|e| StripeCallError::Decode(e.to_string()))
    }

    async fn send(&self, req: CustomizedStripeRequest) -> Result<Bytes, StripeCallError> {
        let (req, overrides) = req.into_pieces();
        let key = overrides
            .request_strategy
            .as_ref()
            .and_then(|s| s.get_key());
        self.send_parts(req, key, overrides.timeout).await
    }

    async fn send_parts(
        &self,
        req: stripe_client_core::RequestBuilder,
        idempotency_key: Option<stripe_client_core::IdempotencyKey>,
        timeout: Option<Duration>,
    ) -> Result<Bytes, StripeCallError> {
        let endpoint = endpoint_label(&req.method, &req.path);
        let builder = self.request(req, idempotency_key, timeout);
        self.wait_for_rate_cap().await;
        let started = std::time::Instant::now();
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => {
                let class = if e.is_timeout() {
                    "timeout"
                } else {
                    "transport"
                };
                crate::metrics::stripe_request(endpoint, class, started.elapsed());
                return Err(transport_error(e));
            }
        };
        let status = response.status().as_u16();
        crate::metrics::stripe_request(endpoint, &status.to_string(), started.elapsed());
        answer::read_answer(response).await
    }

    fn request(
        &self,
        req: stripe_client_core::RequestBuilder,
        idempotency_key: Option<stripe_client_core::IdempotencyKey>,
        timeout: Option<Duration>,
    ) -> reqwest::RequestBuilder {
        let mut url = format!("{}/v1{}", self.base, req.path);
        if let Some(query) = &req.query {
            url.push('?');
            url.push_str(query);
        }
        let method = match req.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .http
            .request(method, url)
            .bearer_auth(self.secret.expose_secret())
            .header("Stripe-Version", API_VERSION);
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key.as_str());
        }
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(body) = req.body {
            builder = builder
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
        }
        builder
    }

    async fn wait_for_rate_cap(&self) {
        if let Some(limiter) = &self.limiter
            && limiter.check().is_err()
        {
            let waiting = std::time::Instant::now();
            limiter.until_ready().await;
            crate::metrics::rate_limiter_wait(waiting.elapsed());
        }
    }
}

/// The metrics label of a request: the calls this project makes, by name; ids never.
fn endpoint_label(method: &StripeMethod, path: &str) -> &'static str {
    let sessions = path.strip_prefix("/checkout/sessions");
    match (method, sessions) {
        (StripeMethod::Post, Some("")) => "create_session",
        (StripeMethod::Get, Some("")) => "list_sessions",
        (StripeMethod::Get, Some(_)) => "retrieve_session",
        (StripeMethod::Get, None) if path == "/events" => "list_events",
        (StripeMethod::Post, None) if path == "/refunds" => "create_refund",
        (StripeMethod::Get, None) if path == "/refunds" => "list_refunds",
        _ => "other",
    }
}

impl StripeClient for StripeHttp {
    type Err = StripeCallError;

    fn execute(
        &self,
        req: CustomizedStripeRequest,
    ) -> impl std::future::Future<Output = Result<Bytes, Self::Err>> + Send {
        self.send(req)
    }
}

#[cfg(test)]
mod tests;
