//! Recording an attempt: the delivery log row, the delivery's next state (delivered, due
//! again on the schedule, or failed), and the endpoint's run of failures, which disables it
//! and raises an operator alert after 5 days.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{claim::Claimed, send::Attempt, settings::DeliveryConfig};

/// Where the delivery went after an attempt (the `outcome` label of the deliveries counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed, and the schedule is spent.
    Failed,
    /// The lease ran out before the outcome came (or an operator replayed it meanwhile):
    /// logged, and the delivery left to whoever holds it now.
    LeaseLost,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Delivered,
        Outcome::Retrying,
        Outcome::Failed,
        Outcome::LeaseLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// Records `attempt` of `d` in one transaction.
pub async fn record(
    pool: &PgPool,
    config: &DeliveryConfig,
    d: &Claimed,
    attempt: &Attempt,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        r#"
        INSERT INTO h2s_delivery_attempts
            (delivery_id, attempt, started_at, status_code, latency_ms, error, replay)
        SELECT $1, $2, $3, $4, $5, $6, $7
        -- Not if the endpoint (and its deliveries) was deleted meanwhile.
        WHERE EXISTS (SELECT 1 FROM h2s_event_deliveries WHERE delivery_id = $1)
        "#,
    )
    .bind(d.delivery_id)
    .bind(d.attempts)
    .bind(attempt.started_at)
    .bind(attempt.status_code.map(i32::from))
    .bind(i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX))
    .bind(attempt.error.as_deref())
    .bind(d.replay)
    .execute(&mut *tx)
    .await?;
    let outcome = advance(&mut tx, config, d, attempt).await?;
    if outcome != Outcome::LeaseLost {
        endpoint_health(&mut tx, config, d.endpoint_id, attempt.succeeded()).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// The delivery's next state, if this worker still holds it.
async fn advance(
    tx: &mut Transaction<'_, Postgres>,
    config: &DeliveryConfig,
    d: &Claimed,
    attempt: &Attempt,
) -> Result<Outcome, sqlx::Error> {
    let (outcome, retry_ms) = if attempt.succeeded() {
        (Outcome::Delivered, None)
    } else {
        match config.retry_after(d.attempts) {
            Some(delay) => (
                Outcome::Retrying,
                Some(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            ),
            None => (Outcome::Failed, None),
        }
    };
    let updated = sqlx::query(
        r#"
        UPDATE h2s_event_deliveries
        SET status = $3, leased_until = NULL, last_error = $4,
            delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,
            next_attempt_at = CASE WHEN $5::bigint IS NULL THEN next_attempt_at
                                   ELSE now() + $5 * interval '1 millisecond' END
        WHERE delivery_id = $1 AND leased_until = $2 AND status = 'pending'
        "#,
    )
    .bind(d.delivery_id)
    .bind(d.leased_until)
    .bind(match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Failed => "failed",
        _ => "pending",
    })
    .bind(attempt.error.as_deref())
    .bind(retry_ms)
    .execute(&mut **tx)
    .await?;
    Ok(if updated.rows_affected() == 1 {
        outcome
    } else {
        Outcome::LeaseLost
    })
}

/// A success ends the endpoint's run of failures; a failure starts one or continues it, and
/// a run as long as `disable_after` disables the endpoint, with an operator alert.
async fn endpoint_health(
    tx: &mut Transaction<'_, Postgres>,
    config: &DeliveryConfig,
    endpoint_id: Uuid,
    succeeded: bool,
) -> Result<(), sqlx::Error> {
    if succeeded {
        sqlx::query(
            r#"UPDATE h2s_event_endpoints SET failing_since = NULL
               WHERE endpoint_id = $1 AND failing_since IS NOT NULL"#,
        )
        .bind(endpoint_id)
        .execute(&mut **tx)
        .await?;
        return Ok(());
    }
    let disabled: Option<bool> = sqlx::query_scalar(
        r#"
        WITH before AS (
            SELECT endpoint_id, enabled,
                   COALESCE(enabled AND failing_since <= now() - $2 * interval '1 second', false)
                       AS too_long
            FROM h2s_event_endpoints WHERE endpoint_id = $1 FOR UPDATE
        )
        UPDATE h2s_event_endpoints e
        SET failing_since = COALESCE(e.failing_since, now()),
            enabled = e.enabled AND NOT b.too_long,
            disabled_reason = CASE WHEN b.too_long THEN 'failing' ELSE e.disabled_reason END,
            updated_at = CASE WHEN b.too_long THEN now() ELSE e.updated_at END
        FROM before b
        WHERE e.endpoint_id = b.endpoint_id
        RETURNING b.too_long
        "#,
    )
    .bind(endpoint_id)
    .bind(config.disable_after.as_secs_f64())
    .fetch_optional(&mut **tx)
    .await?;
    if disabled == Some(true) {
        let detail = format!(
            "every delivery attempt failed for {} days: the endpoint is disabled; \
             re-enable it, then replay what it missed",
            config.disable_after.as_secs() / 86_400
        );
        tracing::warn!(%endpoint_id, "event endpoint disabled: failing");
        crate::alerts::raise_for_endpoint(
            tx,
            endpoint_id,
            crate::alerts::AlertKind::EndpointFailing,
            &detail,
        )
        .await?;
    }
    Ok(())
}
