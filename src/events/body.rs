//! An event's body: the order and its job as they are at the event, rendered once into the
//! JSON text that is stored, signed and delivered byte for byte.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::kind::Event;
use crate::ids::OrderId;

/// The order and its job at the event, with the event's `sequence`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Snapshot {
    pub sequence: i64,
    order_status: String,
    amount_total: Option<i64>,
    amount_refunded: i64,
    currency: Option<String>,
    pub job_id: Option<Uuid>,
    job_status: Option<String>,
    service_address: Option<String>,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
    technician: Option<String>,
}

/// Gives the order's next `sequence` and reads the order and its job as they are now, in
/// one statement. The order's row lock, which every caller holds already, is what keeps the
/// sequence of one order increasing in commit order.
pub(super) async fn snapshot(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Snapshot, sqlx::Error> {
    sqlx::query_as(
        r#"
        WITH o AS (
            UPDATE h2s_orders SET event_sequence = event_sequence + 1
            WHERE order_id = $1
            RETURNING order_id, event_sequence, status, amount_total, amount_refunded, currency,
                      metadata_json->>'service_address' AS service_address
        )
        SELECT o.event_sequence AS sequence, o.status AS order_status, o.amount_total,
               o.amount_refunded, o.currency, j.job_id, j.status AS job_status,
               COALESCE(j.service_address, o.service_address) AS service_address,
               j.window_start, j.window_end, j.technician
        FROM o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id
        "#,
    )
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    order_id: &'a str,
    job_id: Option<Uuid>,
    order_status: &'a str,
    job_status: Option<&'a str>,
    sequence: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    amount_total: Option<i64>,
    amount_refunded: i64,
    currency: Option<&'a str>,
    service_address: Option<&'a str>,
    visit: Option<Visit<'a>>,
}

/// The visit the dispatcher booked, once there is one.
#[derive(Serialize)]
struct Visit<'a> {
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    technician: Option<&'a str>,
}

/// The JSON text of `event` (`{"type", "timestamp", "data": {...}}`), as delivered.
pub(super) fn render(event: Event, order_id: &OrderId, now: &Snapshot) -> String {
    let visit = match (now.window_start, now.window_end) {
        (Some(window_start), Some(window_end)) => Some(Visit {
            window_start,
            window_end,
            technician: now.technician.as_deref(),
        }),
        _ => None,
    };
    let body = Body {
        kind: event.event_type().as_str(),
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        data: Data {
            order_id: order_id.as_str(),
            job_id: now.job_id,
            order_status: &now.order_status,
            job_status: now.job_status.as_deref(),
            sequence: now.sequence,
            reason: event.reason(),
            outcome: event.outcome(),
            amount_total: now.amount_total,
            amount_refunded: now.amount_refunded,
            currency: now.currency.as_deref(),
            service_address: now.service_address.as_deref(),
            visit,
        },
    };
    serde_json::to_string(&body).expect("an event body always serialises")
}
