//! The endpoints' rows (`h2s_event_endpoints`). Secrets are written here and read only by
//! the delivery loop: no answer of this file's readers carries one.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// An endpoint as the admin API lists it: everything but its secrets.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EndpointView {
    #[sqlx(rename = "endpoint_id")]
    pub id: Uuid,
    pub url: String,
    /// The types it wants; `null`: every type, those added later included.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    /// Why it is disabled: `operator`, or `failing` (every delivery failed for 5 days).
    pub disabled_reason: Option<String>,
    /// The first failure of the current run of failures; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of an [`EndpointView`], for `concat!`.
macro_rules! view_columns {
    () => {
        "endpoint_id, url, event_types, enabled, disabled_reason, failing_since, \
         previous_secret_until, created_at, updated_at"
    };
}

pub(super) async fn insert(
    pool: &PgPool,
    url: &str,
    event_types: Option<&[&str]>,
    secret: &str,
) -> Result<EndpointView, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO h2s_event_endpoints (endpoint_id, url, event_types, secret) \
         VALUES ($1, $2, $3, $4) RETURNING ",
        view_columns!()
    ))
    .bind(Uuid::new_v4())
    .bind(url)
    .bind(event_types)
    .bind(secret)
    .fetch_one(pool)
    .await
}

pub(super) async fn list(pool: &PgPool) -> Result<Vec<EndpointView>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        view_columns!(),
        " FROM h2s_event_endpoints ORDER BY created_at, endpoint_id"
    ))
    .fetch_all(pool)
    .await
}

/// Enables or disables it (an operator's disabling says so; enabling forgets the failures
/// that may have disabled it), and sets the types it wants (`set_types`: to `event_types`,
/// `NULL` being every type). `None`: no such endpoint.
pub(super) async fn update(
    pool: &PgPool,
    id: Uuid,
    enabled: Option<bool>,
    set_types: bool,
    event_types: Option<&[&str]>,
) -> Result<Option<EndpointView>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE h2s_event_endpoints \
         SET enabled = COALESCE($2, enabled), \
             disabled_reason = CASE WHEN $2 IS NULL THEN disabled_reason \
                                    WHEN $2 THEN NULL ELSE 'operator' END, \
             failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END, \
             event_types = CASE WHEN $3 THEN $4 ELSE event_types END, \
             updated_at = now() \
         WHERE endpoint_id = $1 RETURNING ",
        view_columns!()
    ))
    .bind(id)
    .bind(enabled)
    .bind(set_types)
    .bind(event_types)
    .fetch_optional(pool)
    .await
}

/// `true` if there was such an endpoint (its deliveries and their log go with it).
pub(super) async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(r#"DELETE FROM h2s_event_endpoints WHERE endpoint_id = $1"#)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes `secret` the signing secret; the one it replaces still signs for `overlap`. When
/// the previous secret stops signing; `None`: no such endpoint.
pub(super) async fn rotate(
    pool: &PgPool,
    id: Uuid,
    secret: &str,
    overlap: chrono::TimeDelta,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        r#"
        UPDATE h2s_event_endpoints
        SET previous_secret = secret, previous_secret_until = now() + $3,
            secret = $2, updated_at = now()
        WHERE endpoint_id = $1
        RETURNING previous_secret_until
        "#,
    )
    .bind(id)
    .bind(secret)
    .bind(overlap)
    .fetch_optional(pool)
    .await
}
