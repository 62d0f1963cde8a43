//! THE write of an order's links: to its dispatch job and to its Checkout Session, in one
//! statement (a checkout's task writes both in one round trip and one row version).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::OrderId;

/// A Checkout Session as its order keeps it.
#[derive(Debug, Clone, Copy)]
pub struct SessionLink<'a> {
    pub id: &'a str,
    pub url: Option<&'a str>,
    /// Unix seconds, as Stripe gives it.
    pub expires_at: Option<i64>,
}

/// Records the order's Checkout Session. The first session stored wins: a second one (which
/// the idempotency key should make impossible) is never silently swapped in.
pub async fn store_session(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    session: &SessionLink<'_>,
) -> Result<(), sqlx::Error> {
    write(tx, order_id, None, Some(session)).await
}

/// Names `job_id` as the order's job, both ways: the column (indexed, the source of truth)
/// and `metadata_json.dispatch_job_id`, where the admin portal and the operators' runbook
/// queries read it; with `session`, records it as [`store_session`] does, in the same
/// statement. A row with nothing to change is not rewritten.
pub async fn link_job(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    job_id: Uuid,
    session: Option<&SessionLink<'_>>,
) -> Result<(), sqlx::Error> {
    write(tx, order_id, Some(job_id), session).await
}

async fn write(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    job_id: Option<Uuid>,
    session: Option<&SessionLink<'_>>,
) -> Result<(), sqlx::Error> {
    let expires_at = session
        .and_then(|s| s.expires_at)
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));
    sqlx::query(sqlx::AssertSqlSafe(WRITE.as_str()))
        .bind(order_id)
        .bind(job_id)
        .bind(session.map(|s| s.id))
        .bind(session.and_then(|s| s.url))
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The statement, built once from its two conditions.
static WRITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    // RELINK: a job is given and either link differs; KEEP: a session is given and the order
    // has none or this one. Written on the row's own columns (no self-join), so that a row
    // updated concurrently is judged as it is after that update.
    const RELINK: &str = "($2::uuid IS NOT NULL AND (dispatch_job_id IS DISTINCT FROM $2 \
        OR (metadata_json->>'dispatch_job_id') IS DISTINCT FROM $2::text))";
    const KEEP: &str =
        "($3::text IS NOT NULL AND (stripe_session_id IS NULL OR stripe_session_id = $3))";
    format!(
        r#"
        UPDATE h2s_orders
        SET dispatch_job_id = CASE WHEN {RELINK} THEN $2 ELSE dispatch_job_id END,
            metadata_json = CASE WHEN {RELINK}
                THEN jsonb_set(COALESCE(metadata_json, '{{}}'::jsonb),
                               '{{dispatch_job_id}}', to_jsonb($2::text))
                ELSE metadata_json END,
            stripe_session_id = CASE WHEN {KEEP} THEN $3 ELSE stripe_session_id END,
            stripe_session_url = CASE WHEN {KEEP}
                THEN COALESCE($4, stripe_session_url) ELSE stripe_session_url END,
            stripe_session_expires_at = CASE WHEN {KEEP}
                THEN COALESCE($5, stripe_session_expires_at) ELSE stripe_session_expires_at END,
            updated_at = now()
        WHERE order_id = $1 AND ({RELINK} OR {KEEP})
        "#
    )
});
