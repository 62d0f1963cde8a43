//! Stripe's `expand`: a retrieved object with some of its ids replaced by the objects they
//! name. The stand-in expands what a reader of a hold needs: a PaymentIntent's
//! `latest_charge` (where `capture_before` is), and a session's `payment_intent` (and
//! `payment_intent.latest_charge`). Other paths are left as ids.

use serde_json::Value;

use crate::state::Inner;

/// The paths asked for by `expand[]=a&expand[0]=b` in a query string or a form body.
pub(crate) fn paths(form: &str) -> Vec<String> {
    url::form_urlencoded::parse(form.as_bytes())
        .filter(|(k, _)| k == "expand" || (k.starts_with("expand[") && k.ends_with(']')))
        .map(|(_, v)| v.into_owned())
        .collect()
}

impl Inner {
    /// `pi` (a PaymentIntent) with `latest_charge` expanded when asked.
    pub(crate) fn expand_intent(&self, mut pi: Value, paths: &[String]) -> Value {
        if paths.iter().any(|p| p == "latest_charge")
            && let Some(charge) = pi["id"].as_str().and_then(|id| self.charges.get(id))
        {
            pi["latest_charge"] = charge.json();
        }
        pi
    }

    /// `session` with `payment_intent` (and `payment_intent.latest_charge`) expanded when
    /// asked.
    pub(crate) fn expand_session(&self, mut session: Value, paths: &[String]) -> Value {
        let wanted = |p: &str| paths.iter().any(|asked| asked == p);
        if !wanted("payment_intent") && !wanted("payment_intent.latest_charge") {
            return session;
        }
        if let Some(pi) = session["payment_intent"]
            .as_str()
            .and_then(|id| self.intent_json(id))
        {
            let inner_paths = if wanted("payment_intent.latest_charge") {
                vec!["latest_charge".to_owned()]
            } else {
                Vec::new()
            };
            session["payment_intent"] = self.expand_intent(pi, &inner_paths);
        }
        session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_paths_are_read_in_both_of_stripes_spellings() {
        assert_eq!(
            paths("expand[]=latest_charge&limit=1&expand[1]=payment_intent.latest_charge"),
            ["latest_charge", "payment_intent.latest_charge"]
        );
        assert!(paths("expanded=x").is_empty());
    }
}
