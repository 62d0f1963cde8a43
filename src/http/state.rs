//! What every handler is given: the pool, the checkout service, the secrets it checks.

use secrecy::SecretString;
use sqlx::PgPool;

use crate::checkout::Checkouts;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub checkouts: Checkouts,
    pub webhook_secret: Option<crate::stripe::WebhookSecrets>,
    /// Events of the other Stripe mode are recorded and ignored; `None`: any mode.
    pub stripe_mode: Option<crate::stripe::StripeMode>,
    pub admin_token: Option<SecretString>,
    /// Only for admin-triggered reconcile sweeps; `None` when the api has no Stripe key.
    pub stripe: Option<crate::stripe::StripeHttp>,
    /// Return URLs for checkouts that carry none.
    pub checkout_urls: crate::checkout::request::UrlDefaults,
    /// See `app::ApiConfig::worker_max_attempts`.
    pub worker_max_attempts: i32,
    /// Where event endpoints may point: checked when one is created.
    pub event_endpoints: crate::events::address::AddressPolicy,
    /// Where the webhook's transaction begins: quiet, and waking the workers and the event
    /// feed's delivery loop after its commit.
    pub commits: crate::queue::Commits,
}
