//! Where and how a process connects: the URL (its password never printed) and TLS as
//! `sslmode` says, with plain TCP on loopback.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::{Bounds, error::ConnectError};

/// The URL with its password replaced by `***`, for messages and logs.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

/// Where and how a process connects (built by [`crate::config::DatabaseSettings::target`]).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: SecretString,
    /// Overrides the URL's `sslmode`.
    pub ssl_mode: Option<PgSslMode>,
    /// Overrides the URL's `sslrootcert`.
    pub ssl_root_cert: Option<PathBuf>,
    /// Create the database when it is missing (`--create-database`, `--dev`).
    pub create_if_missing: bool,
    pub max_connections: u32,
    /// Timeouts and keepalives of every connection.
    pub bounds: Bounds,
}

impl Target {
    /// A plain URL with default TLS handling; creates the database if missing (tests, tools).
    pub fn from_url(url: &str, max_connections: u32) -> Self {
        Target {
            url: SecretString::from(url.to_owned()),
            ssl_mode: None,
            ssl_root_cert: None,
            create_if_missing: true,
            max_connections,
            bounds: Bounds::default(),
        }
    }

    /// What logs and messages show.
    pub fn masked_url(&self) -> String {
        mask_url(self.url.expose_secret())
    }

    /// The connect options: the URL's, then the settings' `sslmode`/`sslrootcert` on top, then
    /// plain TCP on loopback when nobody asked for a mode (see [`is_loopback`]).
    pub fn options(&self) -> Result<PgConnectOptions, ConnectError> {
        let url = self.url.expose_secret();
        let mut options: PgConnectOptions = url.parse().map_err(|_| ConnectError::InvalidUrl {
            url: self.masked_url(),
        })?;
        if let Some(ca) = &self.ssl_root_cert {
            options = options.ssl_root_cert(ca);
        }
        match self.ssl_mode {
            Some(mode) => options = options.ssl_mode(mode),
            None if !url_sets_sslmode(url) && is_loopback(url) => {
                options = options.ssl_mode(PgSslMode::Disable)
            }
            None => {}
        }
        Ok(options)
    }
}

/// A URL that names its own `sslmode` (sqlx reads `sslmode` and `ssl-mode`).
fn url_sets_sslmode(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| {
        parsed
            .query_pairs()
            .any(|(k, _)| k == "sslmode" || k == "ssl-mode")
    })
}

/// On a loopback address TLS protects nothing, and negotiating it (sqlx's default `prefer`
/// with a server that has `ssl = on`) costs ~100 ms per connection here, which every pool
/// refill, listener reconnect and reconciler sweep would pay. So a loopback URL that does not
/// ask for an `sslmode` connects without TLS; any other URL keeps sqlx's default (`prefer`).
fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        // A `postgres:` URL is not a "special" scheme, so its IP hosts come back as text.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
