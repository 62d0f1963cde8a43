//! What every handler is given: the pool, the checkout service, the api's settings.

use std::sync::Arc;

use sqlx::PgPool;

use crate::{
    checkout::Checkouts,
    config::ApiSettings,
    stripe::{StripeMode, WebhookSecrets},
};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub checkouts: Checkouts,
    /// Where the webhook's transaction begins: quiet, and waking the workers and the event
    /// feed's delivery loop after its commit.
    pub commits: crate::queue::Commits,
    /// Only for admin-triggered reconcile sweeps; `None` when the api has no Stripe key.
    pub stripe: Option<crate::stripe::StripeHttp>,
    /// The api's settings, read once at start and shared, never copied field by field:
    /// handlers read them as `state.settings.<section>.<setting>`.
    pub settings: Arc<ApiSettings>,
    /// What the webhook checks, resolved once at start from the settings and the Stripe key.
    pub webhook: Arc<Webhook>,
}

/// The webhook's signing secrets (parsed from `STRIPE_WEBHOOK_SECRET`) and the Stripe mode
/// served (from the key, or `STRIPE_MODE`; `None`: any).
#[derive(Debug)]
pub struct Webhook {
    pub secrets: Option<WebhookSecrets>,
    pub mode: Option<StripeMode>,
}

impl Webhook {
    /// Resolved from the settings and the Stripe key the api has, if any.
    pub fn resolve(
        settings: &crate::config::HttpSettings,
        key: Option<&secrecy::SecretString>,
    ) -> anyhow::Result<Webhook> {
        let secrets = settings
            .stripe_webhook_secret
            .as_ref()
            .map(|text| {
                WebhookSecrets::parse(text)
                    .ok_or_else(|| anyhow::anyhow!("STRIPE_WEBHOOK_SECRET holds no secret"))
            })
            .transpose()?;
        let mode = StripeMode::resolve(key, settings.stripe_mode)?;
        if mode.is_none() {
            tracing::warn!(
                "no STRIPE_SECRET_KEY or STRIPE_MODE: webhook events of both live and test mode \
                 are accepted; set STRIPE_MODE"
            );
        }
        Ok(Webhook { secrets, mode })
    }
}
