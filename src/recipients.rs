//! Recipients (`h2s_recipients`): one row per customer email, case-insensitive.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// A syntactically valid email address, trimmed, at most 254 bytes. Case is kept as given;
/// identity is case-insensitive (the unique index is on `lower(email)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerEmail(String);

impl CustomerEmail {
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (local, domain) = s.rsplit_once('@')?;
        let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        (local_ok && domain_ok).then(|| CustomerEmail(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one way a recipient comes to exist: the row for this email (any letter case), created
/// if missing. Name and phone fill in blanks but never overwrite what a customer gave before.
/// Concurrent calls for the same email converge on one row (the unique index arbitrates).
pub async fn resolve(
    tx: &mut Transaction<'_, Postgres>,
    email: &str,
    name: Option<&str>,
    phone: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        r#"
        INSERT INTO h2s_recipients (recipient_id, email, name, phone)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT ((lower(email))) DO UPDATE
            SET name = COALESCE(h2s_recipients.name, EXCLUDED.name),
                phone = COALESCE(h2s_recipients.phone, EXCLUDED.phone),
                updated_at = now()
        RETURNING recipient_id
        "#,
    )
    .bind(Uuid::new_v4())
    .bind(email.trim())
    .bind(name)
    .bind(phone)
    .fetch_one(&mut **tx)
    .await
}

#[cfg(test)]
mod tests {
    use super::CustomerEmail;

    #[test]
    fn emails_are_parsed_at_the_edge() {
        for good in ["a@b.com", " Ann.Lee+x@Example.co.uk ", "x_y@sub.domain.io"] {
            assert!(CustomerEmail::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "a@@b.com",
        ] {
            assert!(CustomerEmail::parse(bad).is_none(), "{bad}");
        }
    }
}
