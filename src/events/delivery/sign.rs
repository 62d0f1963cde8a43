//! Standard Webhooks signatures (the scheme Svix uses): `webhook-signature` is
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the bytes the secret's
//! base64 (after `whsec_`) stands for; one per valid secret, space-separated.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The key a `whsec_...` secret stands for; `None` if it is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())
}

/// One `v1,<base64>` signature of the message `id` sent at `timestamp` with `body`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret that is a valid `whsec_` one,
/// space-separated; `None` if there is none.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Option<String> {
    let signatures: Vec<String> = secrets
        .into_iter()
        .filter_map(secret_key)
        .map(|key| sign(&key, id, timestamp, body))
        .collect();
    (!signatures.is_empty()).then(|| signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' own tests.
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn one_signature_per_valid_secret() {
        let a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let b = "whsec_dGhlIG90aGVyIHNlY3JldCBvZiB0aGUgZW5kcG9pbnQ=";
        let header = signature_header([a, b, "not-a-secret"], "msg_1", 1, "{}").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2, "{header}");
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
        assert_eq!(signature_header(["whsec_"], "msg_1", 1, "{}"), None);
    }
}
