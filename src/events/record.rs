//! THE way an event is written: in the caller's transaction, with the change that causes it.

use sqlx::{Postgres, Transaction};

use super::{
    body::{Snapshot, render, snapshot},
    kind::Event,
};
use crate::ids::OrderId;

/// The channel a transaction that fanned an event out notifies (payload [`WAKE`]): the
/// worker's delivery loop listens on it, and reads `h2s_event_deliveries`.
pub const CHANNEL: &str = "h2s_event_deliveries";
/// The one payload sent on [`CHANNEL`]: identical notifications of one transaction are
/// delivered once.
pub const WAKE: &str = "due";
/// When a wake-up sent after a commit (`queue::Waker::on_channel_when`) can find work: an
/// event fans out to enabled endpoints only, and the loop claims for enabled ones only.
pub const WAKE_WHEN: &str = "EXISTS (SELECT 1 FROM h2s_event_endpoints WHERE enabled)";

/// An event's id: `msg_` and 32 hex digits. The `webhook-id` of every delivery of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventId(String);

impl EventId {
    fn generate() -> Self {
        EventId(format!("msg_{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Records `event` for the order inside the caller's transaction, which holds the order's
/// row lock and makes the change the event tells of: the order's next `sequence`, the event
/// (its body rendered once, the text every delivery signs), one delivery for each enabled
/// endpoint that wants its type, and a wake-up for the delivery loop when there is one.
#[tracing::instrument(skip_all, fields(order_id = %order_id, event_type = event.event_type().as_str()))]
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    event: Event,
) -> Result<EventId, sqlx::Error> {
    let now = snapshot(tx, order_id).await?;
    let id = EventId::generate();
    let body = render(event, order_id, &now);
    let fanned = insert(tx, &id, event, order_id, &now, &body).await?;
    if fanned > 0 {
        // Not inside a quiet transaction (the webhook's: a NOTIFY would serialise its commit),
        // whose `queue::Commits` wake the loop after the commit.
        crate::queue::notify_unless_quiet(tx, CHANNEL, WAKE).await?;
    }
    tracing::debug!(event_id = %id, sequence = now.sequence, fanned, "event recorded");
    Ok(id)
}

/// The event and its deliveries, in one statement; how many deliveries.
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    id: &EventId,
    event: Event,
    order_id: &OrderId,
    now: &Snapshot,
    body: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        r#"
        WITH e AS (
            INSERT INTO h2s_events (event_id, event_type, order_id, job_id, sequence, body)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING event_id, event_type
        ), d AS (
            INSERT INTO h2s_event_deliveries (event_id, endpoint_id)
            SELECT e.event_id, p.endpoint_id
            FROM e JOIN h2s_event_endpoints p
              ON p.enabled AND (p.event_types IS NULL OR e.event_type = ANY (p.event_types))
            -- The lock the foreign key takes anyway, taken here: an endpoint deleted meanwhile
            -- is skipped rather than failing the change with a foreign-key violation.
            FOR KEY SHARE OF p
            RETURNING 1
        )
        SELECT count(*) FROM d
        "#,
    )
    .bind(id.as_str())
    .bind(event.event_type().as_str())
    .bind(order_id)
    .bind(now.job_id)
    .bind(now.sequence)
    .bind(body)
    .fetch_one(&mut **tx)
    .await
}
