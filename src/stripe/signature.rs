//! The `Stripe-Signature` check, on the raw body and nothing else: whether the bytes came
//! from Stripe, never what they say. Reading the event is [`super::events`]'s, one way for
//! every source, so that no field of any API version can make a signed delivery look forged.
//!
//! Stripe's scheme: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, `v1` being HMAC-SHA256 keyed
//! with the whole `whsec_...` secret over `"{t}.{raw body}"`; other schemes (`v0`) are
//! ignored. Accepted when a `v1` matches under any configured secret (a rotation has two)
//! and `t` is within 300 s of now.

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::webhook_secrets::WebhookSecrets;

/// Stripe's SDKs' default tolerance, in seconds, either side of now.
pub const TOLERANCE_S: i64 = 300;

/// Why a delivery's signature is refused (answered 400; nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("no configured secret signs this body")]
    NoMatch,
    #[error("the signature's timestamp is more than {TOLERANCE_S} s from now")]
    Stale,
}

/// The parts of a `Stripe-Signature` header this check uses.
struct Header {
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

fn parse_header(header: &str) -> Option<Header> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse().ok(),
            // A signature that is not hex cannot match: skipped, as Stripe's SDKs do.
            Some(("v1", sig)) => v1.extend(hex::decode(sig).ok()),
            _ => {}
        }
    }
    (!v1.is_empty()).then_some(Header {
        timestamp: timestamp?,
        v1,
    })
}

/// Whether `secret` signs `"{timestamp}.{body}"` with one of `signatures`, compared in
/// constant time (`verify_slice`).
fn signed_by(secret: &str, timestamp: i64, body: &[u8], signatures: &[Vec<u8>]) -> bool {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok())
}

/// Checks `header` against the raw `body` under every secret, at `now` (unix seconds). A
/// body signed under some secret but with a stale timestamp is refused as stale.
pub fn verify(
    body: &[u8],
    header: Option<&str>,
    secrets: &WebhookSecrets,
    now: i64,
) -> Result<(), SignatureError> {
    let header =
        parse_header(header.ok_or(SignatureError::Missing)?).ok_or(SignatureError::Malformed)?;
    let signed = secrets
        .iter()
        .any(|secret| signed_by(secret.expose_secret(), header.timestamp, body, &header.v1));
    if !signed {
        return Err(SignatureError::NoMatch);
    }
    if (now - header.timestamp).abs() > TOLERANCE_S {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn header(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn secrets(text: &str) -> WebhookSecrets {
        WebhookSecrets::parse(&SecretString::from(text.to_owned())).unwrap()
    }

    #[test]
    fn a_body_signed_under_any_configured_secret_within_the_tolerance_is_accepted() {
        let body = br#"{"id":"evt_1"}"#;
        let both = secrets("whsec_old,whsec_new");
        let now = 1_800_000_000;
        assert_eq!(
            verify(body, Some(&header("whsec_new", now, body)), &both, now),
            Ok(())
        );
        let late = header("whsec_old", now - 300, body);
        assert_eq!(verify(body, Some(&late), &both, now), Ok(()));
        // Stripe may send several v1 signatures (during its own secret roll): any may match.
        let two = format!("t={now},v1=00ff,{}", &header("whsec_old", now, body)[13..]);
        assert_eq!(verify(body, Some(&two), &both, now), Ok(()));
    }

    #[test]
    fn forged_stale_malformed_and_missing_signatures_are_refused_each_for_its_reason() {
        let body = br#"{"id":"evt_1"}"#;
        let one = secrets("whsec_a");
        let now = 1_800_000_000;
        let other = header("whsec_b", now, body);
        assert_eq!(
            verify(body, Some(&other), &one, now),
            Err(SignatureError::NoMatch)
        );
        let tampered = header("whsec_a", now, br#"{"id":"evt_2"}"#);
        assert_eq!(
            verify(body, Some(&tampered), &one, now),
            Err(SignatureError::NoMatch)
        );
        let stale = header("whsec_a", now - 301, body);
        assert_eq!(
            verify(body, Some(&stale), &one, now),
            Err(SignatureError::Stale)
        );
        let future = header("whsec_a", now + 301, body);
        assert_eq!(
            verify(body, Some(&future), &one, now),
            Err(SignatureError::Stale)
        );
        for bad in ["", "t=1", "v1=abcd", "t=x,v1=abcd", "t=1,v1=zz"] {
            assert_eq!(
                verify(body, Some(bad), &one, now),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(verify(body, None, &one, now), Err(SignatureError::Missing));
    }

    #[test]
    fn a_body_that_is_not_utf8_is_still_checked_over_its_bytes() {
        let body = [0xff, 0xfe, b'{'];
        let now = 1_800_000_000;
        let ok = header("whsec_a", now, &body);
        assert_eq!(verify(&body, Some(&ok), &secrets("whsec_a"), now), Ok(()));
    }
}
