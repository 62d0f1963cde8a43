//! The webhook signing secrets: one, or several during a rotation. A delivery signed under
//! any of them is accepted, so rolling the endpoint's secret never drops an event.

use secrecy::{ExposeSecret, SecretString};

/// One or more `whsec_...` secrets. Never printed: `Debug` says how many there are.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<SecretString>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} redacted)", self.0.len())
    }
}

impl WebhookSecrets {
    /// `STRIPE_WEBHOOK_SECRET` as given: secrets separated by commas or new lines (the
    /// `_FILE` twin holds one a line), blanks around them ignored. `None` if it holds none.
    pub fn parse(text: &SecretString) -> Option<Self> {
        let secrets: Vec<SecretString> = text
            .expose_secret()
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect();
        (!secrets.is_empty()).then_some(WebhookSecrets(secrets))
    }

    /// Every secret, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &SecretString> {
        self.0.iter()
    }

    /// The first one given (what `api --dev`'s sandbox signs with).
    pub fn first(&self) -> &SecretString {
        &self.0[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_or_lines_read_as_several_secrets_and_debug_names_none() {
        let parsed =
            WebhookSecrets::parse(&SecretString::from(" whsec_a, whsec_b\nwhsec_c\r\n\n")).unwrap();
        let all: Vec<&str> = parsed.iter().map(|s| s.expose_secret()).collect();
        assert_eq!(all, ["whsec_a", "whsec_b", "whsec_c"]);
        assert_eq!(parsed.first().expose_secret(), "whsec_a");
        assert_eq!(format!("{parsed:?}"), "WebhookSecrets(3 redacted)");
        assert!(WebhookSecrets::parse(&SecretString::from(" , \n".to_owned())).is_none());
    }
}
