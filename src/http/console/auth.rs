//! The console's session: a login form exchanges the admin token for a cookie
//! (`Secure; HttpOnly; SameSite=Strict`, 12 h) holding an expiry and an HMAC of it keyed by
//! the admin token, so no session is stored and changing the token logs everyone out. Every
//! POST carries a CSRF token, an HMAC of the session cookie: a form from another site can
//! neither read it nor (SameSite) send the cookie.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub const COOKIE: &str = "h2s_console";
const SESSION_SECONDS: i64 = 12 * 3600;

fn mac(token: &SecretString, purpose: &str, data: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.expose_secret().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(b":");
    mac.update(data.as_bytes());
    mac
}

/// Whether `given` is the admin token. Digests are compared, in constant time: equal
/// lengths, so the time says nothing of the token.
pub fn token_matches(token: &SecretString, given: &str) -> bool {
    use sha2::Digest;
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(token.expose_secret().as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// A fresh session cookie's value.
pub fn new_session(token: &SecretString) -> String {
    let expires = chrono::Utc::now().timestamp() + SESSION_SECONDS;
    let sig = hex::encode(
        mac(token, "session", &expires.to_string())
            .finalize()
            .into_bytes(),
    );
    format!("{expires}.{sig}")
}

/// The `Set-Cookie` value for `session` (empty and expired to log out).
pub fn set_cookie(session: &str) -> String {
    let max_age = if session.is_empty() {
        0
    } else {
        SESSION_SECONDS
    };
    format!("{COOKIE}={session}; Path=/admin; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict")
}

/// The request's valid session cookie, if any.
pub fn session(headers: &HeaderMap, token: &SecretString) -> Option<String> {
    let value = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())?;
    let (expires, sig) = value.split_once('.')?;
    let sig = hex::decode(sig).ok()?;
    mac(token, "session", expires).verify_slice(&sig).ok()?;
    (expires.parse::<i64>().ok()? > chrono::Utc::now().timestamp()).then_some(value)
}

/// The CSRF token of a session, put in every form.
pub fn csrf_token(token: &SecretString, session: &str) -> String {
    hex::encode(mac(token, "csrf", session).finalize().into_bytes())
}

pub fn csrf_matches(token: &SecretString, session: &str, given: Option<&str>) -> bool {
    let Some(given) = given.and_then(|g| hex::decode(g).ok()) else {
        return false;
    };
    mac(token, "csrf", session).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        h
    }

    #[test]
    fn a_session_is_valid_only_for_the_token_that_made_it_and_csrf_only_for_its_session() {
        let token = SecretString::from("t0ken");
        let other = SecretString::from("other");
        let s = new_session(&token);
        let cookie = format!("a=b; {COOKIE}={s}");
        assert_eq!(
            session(&headers(&cookie), &token).as_deref(),
            Some(s.as_str())
        );
        assert_eq!(session(&headers(&cookie), &other), None);
        assert_eq!(session(&headers(&format!("{COOKIE}=1.00")), &token), None);
        let csrf = csrf_token(&token, &s);
        assert!(csrf_matches(&token, &s, Some(&csrf)));
        assert!(!csrf_matches(&token, &s, None));
        assert!(!csrf_matches(&token, &new_session(&other), Some(&csrf)));
        assert!(token_matches(&token, "t0ken"));
        assert!(!token_matches(&token, "t0ke"));
        assert!(set_cookie(&s).contains("Secure; HttpOnly; SameSite=Strict"));
    }
}
