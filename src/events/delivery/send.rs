//! Sending one delivery: a signed POST with reqwest, redirects off, bounded by the timeout,
//! connecting only to addresses the policy allows (checked on every address the name
//! resolves to, and on an address written in the URL).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::{claim::Claimed, settings::DeliveryConfig, sign::signature_header};
use crate::events::address::{AddressPolicy, AddressRefused};

/// What one attempt came to, for the delivery log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status_code: Option<u16>,
    pub latency: Duration,
    /// Why it failed, in words that name no address nor secret.
    pub error: Option<String>,
}

impl Attempt {
    /// Any 2xx is success.
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The HTTP client of the delivery loop.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl Sender {
    pub fn new(config: &DeliveryConfig) -> reqwest::Result<Sender> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(CheckedResolver(config.policy)))
            // A proxy would connect on our behalf, past the address check.
            .no_proxy()
            .user_agent(concat!("h2s-dispatch-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender {
            client,
            policy: config.policy,
        })
    }

    /// One attempt of `d`, signed now.
    pub async fn send(&self, d: &Claimed) -> Attempt {
        let started_at = Utc::now();
        let clock = Instant::now();
        let answer = self.post(d, started_at.timestamp()).await;
        let latency = clock.elapsed();
        let (status_code, error) = match answer {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("HTTP {status}"))),
            Err(why) => (None, Some(why)),
        };
        Attempt {
            started_at,
            status_code,
            latency,
            error,
        }
    }

    async fn post(&self, d: &Claimed, timestamp: i64) -> Result<u16, String> {
        let url = Url::parse(&d.url).map_err(|_| "the endpoint URL is not valid".to_owned())?;
        self.check_literal(&url).map_err(|e| e.to_string())?;
        let secrets = std::iter::once(d.secret.as_str()).chain(d.previous_secret.as_deref());
        let signature = signature_header(secrets, &d.event_id, timestamp, &d.body)
            .ok_or_else(|| "the endpoint has no valid signing secret".to_owned())?;
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(response.status().as_u16())
    }

    /// The scheme, and an address written in the URL (no resolver sees it).
    fn check_literal(&self, url: &Url) -> Result<(), AddressRefused> {
        self.policy.check_scheme(url)?;
        match url.host() {
            Some(Host::Ipv4(ip)) => self.policy.check_ip(ip.into()),
            Some(Host::Ipv6(ip)) => self.policy.check_ip(ip.into()),
            Some(Host::Domain(_)) => Ok(()),
            None => Err(AddressRefused::NoHost),
        }
    }
}

/// A transport failure in a few words (reqwest's own text names the URL, which may carry a
/// receiver's token).
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<AddressRefused>() {
            return refused.to_string();
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return "connection refused".to_owned();
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed (no answer)".to_owned()
    }
}

/// Resolves as the system does, then keeps only the addresses the policy allows: a name
/// that resolves (or rebinds) to a private address is never connected to.
struct CheckedResolver(AddressPolicy);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|_| Box::new(AddressRefused::Unresolved))?
                .collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_ip(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or(AddressRefused::NoAddress);
                return Err(Box::new(why) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
