//! Where an event endpoint may point: https to a public address, unless the setting
//! `--event-endpoints-allow-private` allows plain http and private addresses for local
//! receivers and tests (SPEC, "Outbound event feed").
//!
//! The endpoint API checks the URL and every address its host resolves to when an endpoint is
//! created; the delivery loop checks the address it actually connects to (`check_ip`), so a
//! name that later resolves elsewhere (DNS rebinding) is refused at connect time too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Why an endpoint address is refused. The messages are written for an API answer: they
/// name the rule broken, never the address a name resolved to nor a resolver's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressRefused {
    #[error("the URL must use https")]
    NotHttps,
    #[error("the URL must use https (or http where private addresses are allowed)")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the host name could not be resolved")]
    Unresolved,
    #[error("the host name resolves to no address")]
    NoAddress,
    #[error("the host's address is in the {0} range, which event endpoints may not use")]
    Range(Range),
}

/// The address ranges refused, by the name an operator would recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    UniqueLocal,
    SharedCgnat,
    Documentation,
    Multicast,
    Reserved,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Range::Unspecified => "unspecified",
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local",
            Range::UniqueLocal => "unique-local",
            Range::SharedCgnat => "shared (CGNAT)",
            Range::Documentation => "documentation",
            Range::Multicast => "multicast",
            Range::Reserved => "reserved",
        })
    }
}

/// The rule, read from the setting once at start and carried in the app state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_private: bool,
}

impl AddressPolicy {
    /// An address to connect to: refused when it is not public, unless private ones are
    /// allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AddressRefused> {
        match (self.allow_private, classify(ip)) {
            (false, Some(range)) => Err(AddressRefused::Range(range)),
            _ => Ok(()),
        }
    }

    /// https always; http only where private addresses are allowed; nothing else ever.
    pub fn check_scheme(&self, url: &Url) -> Result<(), AddressRefused> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_private => Ok(()),
            "http" => Err(AddressRefused::NotHttps),
            _ => Err(AddressRefused::Scheme),
        }
    }

    /// The scheme, then every address the host resolves to: refused if any one is refused,
    /// or if there is none.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, AddressRefused> {
        self.check_scheme(url)?;
        let port = url.port_or_known_default().ok_or(AddressRefused::Scheme)?;
        let addrs = match url.host().ok_or(AddressRefused::NoHost)? {
            Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
            Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
            Host::Domain(name) if !self.allow_private && is_localhost_name(name) => {
                return Err(AddressRefused::Range(Range::Loopback));
            }
            Host::Domain(name) => lookup(name, port).await?,
        };
        self.check_all(&addrs)?;
        Ok(addrs)
    }

    fn check_all(&self, addrs: &[SocketAddr]) -> Result<(), AddressRefused> {
        if addrs.is_empty() {
            return Err(AddressRefused::NoAddress);
        }
        addrs.iter().try_for_each(|addr| self.check_ip(addr.ip()))
    }
}

/// Names under `.localhost` are loopback whatever the resolver says (RFC 6761 §6.3).
/// `localhost` itself is left to the resolver, which maps it on every system.
fn is_localhost_name(name: &str) -> bool {
    name.trim_end_matches('.')
        .to_ascii_lowercase()
        .ends_with(".localhost")
}

/// The longest a name's lookup may take; past it the name counts as unresolved.
pub const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, AddressRefused> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(_)) | Err(_) => Err(AddressRefused::Unresolved),
    }
}

/// The range a non-public address is in; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// IANA's IPv4 special-purpose registry, the ranges not reachable on the internet.
const V4: &[([u8; 4], u32, Range)] = &[
    ([0, 0, 0, 0], 8, Range::Unspecified),
    ([10, 0, 0, 0], 8, Range::Private),
    ([100, 64, 0, 0], 10, Range::SharedCgnat),
    ([127, 0, 0, 0], 8, Range::Loopback),
    ([169, 254, 0, 0], 16, Range::LinkLocal),
    ([172, 16, 0, 0], 12, Range::Private),
    ([192, 0, 0, 0], 24, Range::Reserved),
    ([192, 0, 2, 0], 24, Range::Documentation),
    ([192, 88, 99, 0], 24, Range::Reserved),
    ([192, 168, 0, 0], 16, Range::Private),
    ([198, 18, 0, 0], 15, Range::Reserved),
    ([198, 51, 100, 0], 24, Range::Documentation),
    ([203, 0, 113, 0], 24, Range::Documentation),
    ([224, 0, 0, 0], 4, Range::Multicast),
    ([240, 0, 0, 0], 4, Range::Reserved),
];

fn classify_v4(ip: Ipv4Addr) -> Option<Range> {
    V4.iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, range)| *range)
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == net & mask
}

/// IANA's IPv6 special-purpose registry, the ranges not reachable on the internet.
const V6: &[(u128, u32, Range)] = &[
    (0x0064_ff9b_0001 << 80, 48, Range::Private),
    (0x0100 << 112, 64, Range::Reserved),
    (0x2001_0002 << 96, 48, Range::Reserved),
    (0x2001_0db8 << 96, 32, Range::Documentation),
    (0x3fff << 112, 20, Range::Documentation),
    (0xfc00 << 112, 7, Range::UniqueLocal),
    (0xfe80 << 112, 10, Range::LinkLocal),
    (0xfec0 << 112, 10, Range::Private),
    (0xff00 << 112, 8, Range::Multicast),
];

fn classify_v6(ip: Ipv6Addr) -> Option<Range> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if ip.is_unspecified() {
        return Some(Range::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Range::Loopback);
    }
    if in_v6(ip, 0, 96) {
        // IPv4-compatible (deprecated): no legitimate use.
        return Some(Range::Reserved);
    }
    V6.iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
        .map(|(_, _, range)| *range)
}

/// The IPv4 address an IPv6 one stands for, where it stands for one: v4-mapped
/// (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if in_v6(ip, 0xffff << 32, 96) || in_v6(ip, 0x0064_ff9b << 96, 96) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if in_v6(ip, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

#[cfg(test)]
mod tests;
