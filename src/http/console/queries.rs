//! What the console reads: the orders breaking the invariant, and one order's timeline.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    dispatch::JobStatus,
    invariant::VIOLATIONS_SQL,
    orders::{OrderId, OrderStatus},
    outbox::QUEUE,
    reconcile::queries::Cursor,
    stored::Stored,
};

/// Rows shown per list.
pub const SHOWN: i64 = 50;

#[derive(sqlx::FromRow)]
pub struct Breach {
    pub order_id: OrderId,
    pub status: Stored<OrderStatus>,
    pub dispatch_job_id: Option<uuid::Uuid>,
    pub job_status: Option<Stored<JobStatus>>,
    pub created_at: DateTime<Utc>,
}

/// The first orders of the invariant query, with what is wrong with them.
pub async fn breaches(pool: &PgPool) -> Result<Vec<Breach>, sqlx::Error> {
    let start = Cursor::start();
    let sql = format!(
        r#"
        SELECT o.order_id, o.status, o.dispatch_job_id, j.status AS job_status, o.created_at
        FROM ({VIOLATIONS_SQL}) v
        JOIN h2s_orders o ON o.order_id = v.order_id
        LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id
        ORDER BY o.created_at
        "#
    );
    // Two constants composed: no input reaches the SQL text.
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(start.created_at)
        .bind(start.order_id)
        .bind(SHOWN)
        .fetch_all(pool)
        .await
}

#[derive(sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: OrderId,
    pub status: Stored<OrderStatus>,
    pub customer_email: String,
    pub checkout_trace_id: Option<uuid::Uuid>,
    pub stripe_session_id: Option<String>,
    pub failure_reason: Option<String>,
    pub currency: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// A held payment (manual capture): the amount held and when the hold lapses.
    pub amount_capturable: Option<i64>,
    pub capture_before: Option<DateTime<Utc>>,
}

/// Orders found by their id, or by the customer's email (case-insensitive), newest first.
pub async fn find_orders(pool: &PgPool, q: &str) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, status, customer_email, checkout_trace_id, stripe_session_id,
               failure_reason, currency, created_at, paid_at, updated_at,
               amount_capturable, capture_before
        FROM h2s_orders
        WHERE order_id = $1 OR lower(customer_email) = lower($1)
        ORDER BY created_at DESC
        LIMIT $2
        "#,
    )
    .bind(q.trim())
    .bind(SHOWN)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    kind: String,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    last_result: Option<serde_json::Value>,
}

/// `(job_id, status, created_at, updated_at)` of the order's dispatch job.
type JobRow = (uuid::Uuid, Stored<JobStatus>, DateTime<Utc>, DateTime<Utc>);

/// One line of an order's timeline.
pub struct Entry {
    pub at: DateTime<Utc>,
    pub what: String,
    pub detail: String,
}

/// Checkout, outbox task attempts, Stripe session and events, status changes and the
/// dispatch job of one order, oldest first. `policy_max`: the worker's attempt limit, shown
/// for tasks no worker has failed yet (`outbox::attempt_limit`).
pub async fn timeline(
    pool: &PgPool,
    order: &OrderRow,
    policy_max: i32,
) -> Result<Vec<Entry>, sqlx::Error> {
    let mut entries = vec![checkout_entry(order)];
    entries.extend(task_entries(pool, order, policy_max).await?);
    if let Some(session) = &order.stripe_session_id {
        entries.push(Entry {
            at: order.created_at,
            what: "stripe session".into(),
            detail: session.clone(),
        });
    }
    entries.extend(event_entries(pool, order).await?);
    entries.extend(money_entries(pool, order).await?);
    if let Some(paid_at) = order.paid_at {
        entries.push(Entry {
            at: paid_at,
            what: "status paid".into(),
            detail: String::new(),
        });
    }
    entries.extend(job_entries(pool, order).await?);
    entries.push(Entry {
        at: order.updated_at,
        what: format!("order now {}", order.status),
        detail: match &order.failure_reason {
            Some(reason) => format!("last change; {reason}"),
            None => "last change".into(),
        },
    });
    entries.sort_by_key(|e| e.at);
    Ok(entries)
}

fn checkout_entry(order: &OrderRow) -> Entry {
    Entry {
        at: order.created_at,
        what: "checkout".into(),
        detail: match order.checkout_trace_id {
            Some(trace) => format!("order written with its outbox task; checkout_trace_id {trace}"),
            None => "order written by an older system or from a Stripe session".into(),
        },
    }
}

async fn task_entries(
    pool: &PgPool,
    order: &OrderRow,
    policy_max: i32,
) -> Result<Vec<Entry>, sqlx::Error> {
    let tasks: Vec<TaskRow> = sqlx::query_as(
        r#"
            SELECT split_part(idempotency_key, ':', 1) AS kind, status, attempts, max_attempts, run_at,
                   done_at, last_result
            FROM apalis.jobs
            WHERE job_type = $1 AND idempotency_key = ANY($2)
            ORDER BY run_at
            "#,
    )
    .bind(QUEUE)
    .bind(
        crate::outbox::OutboxTask::KINDS
            .iter()
            .map(|kind| format!("{kind}:{}", order.order_id))
            .collect::<Vec<_>>(),
    )
    .fetch_all(pool)
    .await?;
    Ok(tasks
        .into_iter()
        .map(|task| task_entry(task, policy_max))
        .collect())
}

fn task_entry(
    TaskRow {
        kind,
        status,
        attempts,
        max_attempts,
        run_at,
        done_at,
        last_result,
    }: TaskRow,
    policy_max: i32,
) -> Entry {
    let max_attempts = crate::outbox::attempt_limit(max_attempts, policy_max);
    let mut detail = format!("{status}, {attempts} of {max_attempts} attempts");
    if let Some(result) = last_result.filter(|r| !r.is_null()) {
        let text: String = super::format::task_result(&result)
            .chars()
            .take(200)
            .collect();
        detail.push_str(&format!("; last result: {text}"));
    }
    Entry {
        at: done_at.unwrap_or(run_at),
        what: format!("task {kind}"),
        detail,
    }
}

async fn event_entries(pool: &PgPool, order: &OrderRow) -> Result<Vec<Entry>, sqlx::Error> {
    let events: Vec<(String, String, String, DateTime<Utc>)> = sqlx::query_as(
        r#"
        SELECT event_type, outcome, source, received_at FROM h2s_stripe_events
        WHERE order_id = $1 ORDER BY received_at
        "#,
    )
    .bind(order.order_id.as_str())
    .fetch_all(pool)
    .await?;
    Ok(events
        .into_iter()
        .map(|(event_type, outcome, source, at)| Entry {
            at,
            what: format!("event {event_type}"),
            detail: format!("{outcome} (from {source})"),
        })
        .collect())
}

/// Refunds, disputes and operator alerts of the order (issue 17), refund requests and the
/// job's moves (issue 26).
async fn money_entries(pool: &PgPool, order: &OrderRow) -> Result<Vec<Entry>, sqlx::Error> {
    // `amount` (cents) where the line is money, written before the detail as currency.
    let rows: Vec<(DateTime<Utc>, String, Option<i64>, String)> = sqlx::query_as(
        r#"
        SELECT updated_at, 'refund ' || refund_id, amount, status
        FROM h2s_refunds WHERE order_id = $1
        UNION ALL
        SELECT COALESCE(closed_at, opened_at), 'dispute ' || dispute_id, NULL,
               status || COALESCE(', ' || reason, '')
        FROM h2s_disputes WHERE order_id = $1
        UNION ALL
        SELECT created_at, 'operator alert ' || kind, NULL,
               detail || CASE WHEN resolved_at IS NULL THEN ' (open)' ELSE ' (resolved)' END
        FROM h2s_operator_alerts WHERE order_id = $1
        UNION ALL
        SELECT COALESCE(settled_at, created_at), 'refund request ' || status, amount,
               reason || COALESCE('; ' || stripe_refund_id, '')
               || COALESCE('; ' || failure_reason, '')
        FROM h2s_refund_requests WHERE order_id = $1
        UNION ALL
        SELECT m.moved_at, 'job ' || m.from_status || ' → ' || m.to_status, NULL,
               m.cause || COALESCE(': ' || m.detail, '')
        FROM h2s_job_moves m JOIN h2s_dispatch_jobs j USING (job_id) WHERE j.order_id = $1
        "#,
    )
    .bind(order.order_id.as_str())
    .fetch_all(pool)
    .await?;
    let money = |cents| super::format::money(cents, order.currency.as_deref());
    Ok(rows
        .into_iter()
        .map(|(at, what, amount, detail)| Entry {
            at,
            what,
            detail: match amount {
                Some(cents) => format!("{}: {detail}", money(cents)),
                None => detail,
            },
        })
        .collect())
}

async fn job_entries(pool: &PgPool, order: &OrderRow) -> Result<Vec<Entry>, sqlx::Error> {
    let job: Option<JobRow> = sqlx::query_as(
        r#"SELECT job_id, status, created_at, updated_at FROM h2s_dispatch_jobs WHERE order_id = $1"#,
    )
    .bind(order.order_id.as_str())
    .fetch_optional(pool)
    .await?;
    let Some((job_id, status, created_at, updated_at)) = job else {
        return Ok(vec![]);
    };
    Ok(vec![
        Entry {
            at: created_at,
            what: "dispatch job".into(),
            detail: format!("{job_id} created"),
        },
        Entry {
            at: updated_at,
            what: format!("job now {status}"),
            detail: "last change".into(),
        },
    ])
}
