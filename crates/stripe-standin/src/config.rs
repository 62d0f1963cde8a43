//! How a stand-in is started, and where it sends its webhooks.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct StandInConfig {
    /// Default `127.0.0.1:0`.
    pub bind: Option<SocketAddr>,
    pub webhook: Option<WebhookTarget>,
    /// Added to every API call.
    pub latency: Duration,
    /// Base of the session `url`s (`{base}/pay/{id}`); default the bound address.
    pub public_base_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub url: String,
    /// `whsec_...`, used whole as the HMAC key.
    pub secret: String,
}
