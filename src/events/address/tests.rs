use std::net::IpAddr;

use url::Url;

use super::{AddressPolicy, AddressRefused, Range, classify};

const STRICT: AddressPolicy = AddressPolicy {
    allow_private: false,
};
const LOCAL: AddressPolicy = AddressPolicy {
    allow_private: true,
};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn every_special_purpose_ipv4_range_is_classified() {
    let cases = [
        ("0.0.0.0", Range::Unspecified),
        ("0.1.2.3", Range::Unspecified),
        ("10.20.30.40", Range::Private),
        ("100.64.0.1", Range::SharedCgnat),
        ("100.127.255.254", Range::SharedCgnat),
        ("127.0.0.1", Range::Loopback),
        ("127.255.0.9", Range::Loopback),
        ("169.254.169.254", Range::LinkLocal),
        ("172.16.0.1", Range::Private),
        ("172.31.255.255", Range::Private),
        ("192.0.0.8", Range::Reserved),
        ("192.0.2.10", Range::Documentation),
        ("192.168.1.1", Range::Private),
        ("198.18.5.5", Range::Reserved),
        ("198.51.100.7", Range::Documentation),
        ("203.0.113.200", Range::Documentation),
        ("224.0.0.251", Range::Multicast),
        ("239.255.255.250", Range::Multicast),
        ("240.0.0.1", Range::Reserved),
        ("255.255.255.255", Range::Reserved),
    ];
    for (text, range) in cases {
        assert_eq!(classify(ip(text)), Some(range), "{text}");
    }
}

#[test]
fn public_ipv4_addresses_next_to_the_ranges_are_public() {
    for text in [
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.20.0.0",
        "223.255.255.255",
    ] {
        assert_eq!(classify(ip(text)), None, "{text}");
    }
}

#[test]
fn every_special_purpose_ipv6_range_is_classified() {
    let cases = [
        ("::", Range::Unspecified),
        ("::1", Range::Loopback),
        ("::10.0.0.1", Range::Reserved),
        ("100::1", Range::Reserved),
        ("2001:2::1", Range::Reserved),
        ("2001:db8::1", Range::Documentation),
        ("3fff:fff::1", Range::Documentation),
        ("fc00::1", Range::UniqueLocal),
        ("fd12:3456::1", Range::UniqueLocal),
        ("fe80::1", Range::LinkLocal),
        ("febf::1", Range::LinkLocal),
        ("fec0::1", Range::Private),
        ("ff02::1", Range::Multicast),
        ("64:ff9b:1::1", Range::Private),
    ];
    for (text, range) in cases {
        assert_eq!(classify(ip(text)), Some(range), "{text}");
    }
}

#[test]
fn ipv6_addresses_standing_for_ipv4_ones_are_judged_by_the_ipv4_address() {
    assert_eq!(classify(ip("::ffff:127.0.0.1")), Some(Range::Loopback));
    assert_eq!(classify(ip("::ffff:10.1.2.3")), Some(Range::Private));
    assert_eq!(
        classify(ip("::ffff:169.254.169.254")),
        Some(Range::LinkLocal)
    );
    assert_eq!(classify(ip("64:ff9b::192.168.0.1")), Some(Range::Private));
    assert_eq!(classify(ip("2002:7f00:1::1")), Some(Range::Loopback));
    assert_eq!(classify(ip("::ffff:8.8.8.8")), None);
    assert_eq!(classify(ip("64:ff9b::8.8.8.8")), None);
    assert_eq!(classify(ip("2002:808:808::1")), None);
}

#[test]
fn public_ipv6_addresses_are_public() {
    for text in [
        "2606:4700:4700::1111",
        "2a00:1450:4001::1",
        "2001:4860::8888",
    ] {
        assert_eq!(classify(ip(text)), None, "{text}");
    }
}

#[test]
fn the_setting_allows_private_addresses_and_plain_http() {
    assert!(STRICT.check_ip(ip("127.0.0.1")).is_err());
    assert!(LOCAL.check_ip(ip("127.0.0.1")).is_ok());
    assert_eq!(
        STRICT.check_scheme(&url("http://example.com/")),
        Err(AddressRefused::NotHttps)
    );
    assert!(LOCAL.check_scheme(&url("http://example.com/")).is_ok());
    assert!(STRICT.check_scheme(&url("https://example.com/")).is_ok());
}

#[test]
fn other_schemes_are_refused_whatever_the_setting() {
    for text in ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"] {
        assert_eq!(LOCAL.check_scheme(&url(text)), Err(AddressRefused::Scheme));
        assert_eq!(STRICT.check_scheme(&url(text)), Err(AddressRefused::Scheme));
    }
}

#[tokio::test]
async fn literal_addresses_are_checked_without_a_lookup() {
    let refused = STRICT
        .resolve(&url("https://[::ffff:10.0.0.1]/hooks"))
        .await;
    assert_eq!(refused, Err(AddressRefused::Range(Range::Private)));
    let public = STRICT.resolve(&url("https://8.8.8.8:8443/hooks")).await;
    assert_eq!(public.unwrap(), vec!["8.8.8.8:8443".parse().unwrap()]);
}

#[tokio::test]
async fn loopback_written_in_other_ipv4_forms_is_still_loopback() {
    for text in [
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://[0:0:0:0:0:ffff:7f00:1]/",
    ] {
        let refused = STRICT.resolve(&url(text)).await;
        assert_eq!(
            refused,
            Err(AddressRefused::Range(Range::Loopback)),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_refused() {
    let refused = STRICT.resolve(&url("https://no-such-host.invalid/")).await;
    assert_eq!(refused, Err(AddressRefused::Unresolved));
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_and_allowed_with_the_setting() {
    let refused = STRICT.resolve(&url("https://localhost/hooks")).await;
    assert_eq!(refused, Err(AddressRefused::Range(Range::Loopback)));
    let allowed = LOCAL
        .resolve(&url("http://localhost:8080/hooks"))
        .await
        .unwrap();
    assert!(
        allowed
            .iter()
            .all(|addr| addr.ip().is_loopback() && addr.port() == 8080)
    );
}

#[tokio::test]
async fn names_under_localhost_are_loopback_whatever_the_resolver_says() {
    let refused = STRICT.resolve(&url("https://hooks.localhost/")).await;
    assert_eq!(refused, Err(AddressRefused::Range(Range::Loopback)));
    let trailing_dot = STRICT.resolve(&url("https://A.LocalHost./")).await;
    assert_eq!(trailing_dot, Err(AddressRefused::Range(Range::Loopback)));
}

#[test]
fn any_refused_address_refuses_the_name_and_none_is_refused_too() {
    let mixed = [
        "8.8.8.8:443".parse().unwrap(),
        "10.0.0.1:443".parse().unwrap(),
    ];
    assert_eq!(
        STRICT.check_all(&mixed),
        Err(AddressRefused::Range(Range::Private))
    );
    assert_eq!(STRICT.check_all(&[]), Err(AddressRefused::NoAddress));
    assert_eq!(LOCAL.check_all(&[]), Err(AddressRefused::NoAddress));
}

#[test]
fn refusals_never_name_the_address_resolved() {
    let text = AddressRefused::Range(Range::Private).to_string();
    assert_eq!(
        text,
        "the host's address is in the private range, which event endpoints may not use"
    );
}
