//! Where events go: the endpoints an operator manages through the admin API, each with its
//! URL, the event types it wants, and its signing secret (`whsec_` + base64 of 32 random
//! bytes, shown at creation and at rotation only).

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

pub mod input;
mod store;

pub use input::{Patch, RawEndpoint, RawPatch, Wanted};
pub use store::EndpointView;

/// How long the secret before a rotation still signs: receivers change over within it.
pub const ROTATION_OVERLAP: TimeDelta = TimeDelta::hours(24);

/// A fresh signing secret: `whsec_` and the base64 of 32 random bytes (the Standard Webhooks
/// form, which the reference libraries read).
pub fn generate_secret() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    SecretString::from(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// An endpoint as created: its row, and the secret, which no later answer shows.
pub struct Created {
    pub endpoint: EndpointView,
    pub secret: SecretString,
}

/// A secret as rotated.
pub struct Rotated {
    pub id: Uuid,
    pub secret: SecretString,
    /// Until when the previous secret still signs.
    pub previous_secret_until: DateTime<Utc>,
}

fn names(types: &Wanted) -> Option<Vec<&'static str>> {
    types
        .as_ref()
        .map(|types| types.iter().map(|t| t.as_str()).collect())
}

/// Writes a new endpoint, enabled, with a fresh secret. Its URL has passed the address
/// policy already.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &PgPool, url: &Url, types: &Wanted) -> Result<Created, sqlx::Error> {
    let secret = generate_secret();
    let endpoint = store::insert(
        pool,
        url.as_str(),
        names(types).as_deref(),
        secret.expose_secret(),
    )
    .await?;
    tracing::info!(endpoint_id = %endpoint.id, "event endpoint created");
    Ok(Created { endpoint, secret })
}

/// Every endpoint, oldest first, without secrets.
pub async fn list(pool: &PgPool) -> Result<Vec<EndpointView>, sqlx::Error> {
    store::list(pool).await
}

/// Applies `patch`; `None`: no such endpoint.
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    patch: &Patch,
) -> Result<Option<EndpointView>, sqlx::Error> {
    let types = patch.event_types.as_ref();
    let names = types.and_then(names);
    let updated = store::update(pool, id, patch.enabled, types.is_some(), names.as_deref()).await?;
    if updated.is_some() {
        tracing::info!(enabled = ?patch.enabled, "event endpoint changed");
    }
    Ok(updated)
}

/// Deletes the endpoint with its deliveries; `false`: no such endpoint.
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = store::delete(pool, id).await?;
    if deleted {
        tracing::info!("event endpoint deleted");
    }
    Ok(deleted)
}

/// A new signing secret; the one it replaces signs beside it for [`ROTATION_OVERLAP`].
/// `None`: no such endpoint.
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn rotate_secret(pool: &PgPool, id: Uuid) -> Result<Option<Rotated>, sqlx::Error> {
    let secret = generate_secret();
    let until = store::rotate(pool, id, secret.expose_secret(), ROTATION_OVERLAP).await?;
    Ok(until.map(|previous_secret_until| {
        tracing::info!(%previous_secret_until, "event endpoint secret rotated");
        Rotated {
            id,
            secret,
            previous_secret_until,
        }
    }))
}
