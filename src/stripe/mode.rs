//! Live or test: which of Stripe's two worlds this deployment serves. An event from the other
//! one (a test-mode event reaching a live endpoint, or the reverse) is recorded and ignored.

use secrecy::{ExposeSecret, SecretString};

/// Stripe's mode (`livemode` on every object and event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StripeMode {
    Live,
    Test,
}

impl StripeMode {
    /// The mode a key is for: `sk_live_`/`rk_live_` or `sk_test_`/`rk_test_`; `None` for a
    /// key of another shape.
    pub fn of_key(key: &SecretString) -> Option<Self> {
        let key = key.expose_secret();
        if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
            Some(StripeMode::Live)
        } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
            Some(StripeMode::Test)
        } else {
            None
        }
    }

    pub fn is_live(self) -> bool {
        self == StripeMode::Live
    }

    /// The deployment's mode from its key and `--stripe-mode`: they must agree when both
    /// are given. `None` when neither says (every event is accepted, as before).
    pub fn resolve(
        key: Option<&SecretString>,
        flag: Option<StripeMode>,
    ) -> anyhow::Result<Option<Self>> {
        match (key.and_then(StripeMode::of_key), flag) {
            (Some(of_key), Some(flag)) if of_key != flag => anyhow::bail!(
                "--stripe-mode (env STRIPE_MODE) {flag:?} disagrees with STRIPE_SECRET_KEY, a \
                 {of_key:?}-mode key"
            ),
            (of_key, flag) => Ok(of_key.or(flag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StripeMode::{self, Live, Test};
    use secrecy::SecretString;

    fn key(k: &str) -> SecretString {
        SecretString::from(k.to_owned())
    }

    #[test]
    fn the_mode_comes_from_the_key_or_the_flag_and_they_must_agree() {
        assert_eq!(StripeMode::of_key(&key("sk_live_abc")), Some(Live));
        assert_eq!(StripeMode::of_key(&key("rk_test_abc")), Some(Test));
        assert_eq!(StripeMode::of_key(&key("whatever")), None);
        assert_eq!(
            StripeMode::resolve(Some(&key("sk_test_1")), None).unwrap(),
            Some(Test)
        );
        assert_eq!(StripeMode::resolve(None, Some(Live)).unwrap(), Some(Live));
        assert_eq!(
            StripeMode::resolve(Some(&key("sk_live_1")), Some(Live)).unwrap(),
            Some(Live)
        );
        assert_eq!(StripeMode::resolve(None, None).unwrap(), None);
        let refused = StripeMode::resolve(Some(&key("sk_test_1")), Some(Live)).unwrap_err();
        assert!(
            !refused.to_string().contains("sk_test_1"),
            "the key is never named"
        );
    }
}
