//! The HTTP client behind async-stripe's request builders.
//!
//! async-stripe's own hyper client hides the response headers (so `Retry-After` cannot be
//! honoured), opens a new connection per request, and has no timeout by default. This client
//! implements async-stripe's `StripeClient` trait over reqwest (rustls, keep-alive pool) with
//! a per-attempt timeout and a process-wide rate cap, and reports failures as typed errors
//! that say whether a retry can help. It never retries by itself: the outbox does, with the
//! same idempotency key.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use stripe_client_core::{CustomizedStripeRequest, StripeClient, StripeClientErr, StripeMethod};

/// The Stripe API version this build speaks (the one async-stripe 1.0.0-rc.10 parses).
pub const API_VERSION: &str = "2026-09-30.endive";

#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    #[error("stripe answered {status} ({code}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
        should_retry: Option<bool>,
    },
    #[error("stripe call timed out")]
    Timeout,
    #[error("stripe unreachable: {0}")]
    Transport(String),
    #[error("stripe answer not understood: {0}")]
    Decode(String),
}

impl StripeCallError {
    /// 429, 409 (a concurrent request with the same key), 5xx, timeouts and connection errors
    /// can succeed later; other 4xx answers will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            StripeCallError::Api {
                status,
                should_retry,
                ..
            } => should_retry.unwrap_or(matches!(status, 409 | 424 | 429 | 500..=599)),
            StripeCallError::Timeout
            | StripeCallError::Transport(_)
            | StripeCallError::Decode(_) => true,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            StripeCallError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            StripeCallError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl StripeClientErr for StripeCallError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        StripeCallError::Decode(msg.to_string())
    }
}

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

    async fn send(&self, req: CustomizedStripeRequest) -> Result<Bytes, StripeCallError> {
        let (req, overrides) = req.into_pieces();
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
        if let Some(key) = overrides
            .request_strategy
            .as_ref()
            .and_then(|s| s.get_key())
        {
            builder = builder.header("Idempotency-Key", key.as_str());
        }
        if let Some(timeout) = overrides.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(body) = req.body {
            builder = builder
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let should_retry = response
            .headers()
            .get("Stripe-Should-Retry")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<bool>().ok());
        let body = response.bytes().await.map_err(transport_error)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let (code, message) = error_parts(&body);
        Err(StripeCallError::Api {
            status,
            code,
            message,
            retry_after,
            should_retry,
        })
    }
}

fn transport_error(e: reqwest::Error) -> StripeCallError {
    if e.is_timeout() {
        StripeCallError::Timeout
    } else {
        // Without the URL: it is ours, but keeps the message short and free of query strings.
        StripeCallError::Transport(e.without_url().to_string())
    }
}

/// Stripe's `{"error": {"code", "type", "message"}}`, best effort.
fn error_parts(body: &[u8]) -> (String, String) {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &value["error"];
    let code = error["code"]
        .as_str()
        .or(error["type"].as_str())
        .unwrap_or("unknown")
        .to_owned();
    let message = error["message"]
        .as_str()
        .unwrap_or("no message")
        .chars()
        .take(500)
        .collect();
    (code, message)
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
