//! What every handler is given: the pool, the checkout service, the api's settings.

use std::sync::Arc;

use sqlx::PgPool;

use crate::{checkout::Checkouts, config::ApiConfig};

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
    /// handlers read them through `Deref` (`state.<setting>`).
    pub config: Arc<ApiConfig>,
}

impl std::ops::Deref for AppState {
    type Target = ApiConfig;

    fn deref(&self) -> &ApiConfig {
        &self.config
    }
}
