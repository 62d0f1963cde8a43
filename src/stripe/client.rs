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
        /// `error.code`, else `error.type`.
        code: String,
        /// `error.type`: `invalid_request_error`, `idempotency_error`, `api_error`, ...
        kind: String,
        /// `error.param`: the request parameter at fault, when Stripe names one.
        param: Option<String>,
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

/// Whose fault a failed call is: that decides what becomes of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Stripe refused the order's own content (an unknown price, an invalid amount): a 400
    /// `invalid_request_error` naming a parameter. Retrying cannot help; the order fails.
    Order,
    /// The idempotency key was first used with other parameters: a request under this key
    /// was already made, so a session may exist. Find it; never fail the order for this.
    IdempotencyKey,
    /// Ours or Stripe's, not the order's: a wrong or revoked key (401/403), a rate limit, a
    /// 5xx, a timeout, a connection error, an answer we could not read, any error that names
    /// no parameter. The order stays payable and the call is retried.
    Outage,
}

impl Blame {
    /// The metric label of an outage's cause.
    pub fn outage_class(error: &StripeCallError) -> &'static str {
        match error {
            StripeCallError::Api { status: 401, .. } => "authentication",
            StripeCallError::Api { status: 403, .. } => "permission",
            StripeCallError::Api { status: 429, .. } => "rate_limit",
            StripeCallError::Api { status, .. } if *status >= 500 => "server",
            StripeCallError::Api { .. } => "other",
            StripeCallError::Timeout => "timeout",
            StripeCallError::Transport(_) => "connection",
            StripeCallError::Decode(_) => "decode",
        }
    }
}

impl StripeCallError {
    /// Whose fault this failure is (see [`Blame`]).
    pub fn blame(&self) -> Blame {
        match self {
            // Stripe itself says a retry can succeed (a lock contention, say).
            StripeCallError::Api {
                should_retry: Some(true),
                ..
            } => Blame::Outage,
            StripeCallError::Api { kind, .. } if kind == "idempotency_error" => {
                Blame::IdempotencyKey
            }
            StripeCallError::Api {
                status: 400,
                kind,
                param: Some(_),
                ..
            } if kind == "invalid_request_error" => Blame::Order,
            _ => Blame::Outage,
        }
    }

    /// Worth calling again later: everything but the order's own fault.
    pub fn is_retryable(&self) -> bool {
        self.blame() != Blame::Order
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
        let bytes = self.send_parts(req, None, None).await?;
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
        if let Some(limiter) = &self.limiter
            && limiter.check().is_err()
        {
            let waiting = std::time::Instant::now();
            limiter.until_ready().await;
            crate::metrics::rate_limiter_wait(waiting.elapsed());
        }
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
        let parts = error_parts(&body);
        Err(StripeCallError::Api {
            status,
            code: parts.code,
            kind: parts.kind,
            param: parts.param,
            message: parts.message,
            retry_after,
            should_retry,
        })
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
        _ => "other",
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

struct ErrorParts {
    code: String,
    kind: String,
    param: Option<String>,
    message: String,
}

/// Stripe's `{"error": {"code", "type", "param", "message"}}`, best effort.
fn error_parts(body: &[u8]) -> ErrorParts {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &value["error"];
    let kind = error["type"].as_str().unwrap_or("unknown").to_owned();
    ErrorParts {
        code: error["code"].as_str().unwrap_or(&kind).to_owned(),
        param: error["param"]
            .as_str()
            .filter(|p| !p.is_empty())
            .map(|p| p.chars().take(200).collect()),
        message: error["message"]
            .as_str()
            .unwrap_or("no message")
            .chars()
            .take(500)
            .collect(),
        kind,
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
mod tests {
    use super::*;

    fn api(status: u16, kind: &str, param: Option<&str>) -> StripeCallError {
        StripeCallError::Api {
            status,
            code: kind.into(),
            kind: kind.into(),
            param: param.map(Into::into),
            message: "m".into(),
            retry_after: None,
            should_retry: None,
        }
    }

    #[test]
    fn only_a_400_naming_a_parameter_is_the_orders_fault() {
        let param = Some("line_items[0][price]");
        assert_eq!(
            api(400, "invalid_request_error", param).blame(),
            Blame::Order
        );
        assert_eq!(
            api(400, "idempotency_error", None).blame(),
            Blame::IdempotencyKey
        );
        for not_the_order in [
            api(401, "invalid_request_error", None),
            api(403, "invalid_request_error", None),
            api(429, "invalid_request_error", None),
            api(500, "api_error", None),
            api(503, "api_error", None),
            api(400, "invalid_request_error", None),
            api(404, "invalid_request_error", param),
            StripeCallError::Timeout,
            StripeCallError::Transport("reset".into()),
        ] {
            assert_eq!(not_the_order.blame(), Blame::Outage, "{not_the_order}");
            assert!(not_the_order.is_retryable());
        }
    }

    #[test]
    fn stripe_error_bodies_give_their_type_and_parameter() {
        let parts = error_parts(
            br#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"line_items[0][price]","message":"No such price"}}"#,
        );
        assert_eq!(parts.kind, "invalid_request_error");
        assert_eq!(parts.code, "resource_missing");
        assert_eq!(parts.param.as_deref(), Some("line_items[0][price]"));
        let parts = error_parts(br#"{"error":{"type":"idempotency_error","message":"x"}}"#);
        assert_eq!(
            (parts.kind.as_str(), parts.code.as_str()),
            ("idempotency_error", "idempotency_error")
        );
        assert_eq!(parts.param, None);
    }
}
