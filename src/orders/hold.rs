//! A hold's bookkeeping on `h2s_orders` (manual capture, issue 34): what was asked of Stripe
//! (a capture, a release), the sweep's warning, and a new payment link's attempt. Status
//! changes stay `transition`'s.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::{CaptureMethod, OrderId, OrderStatus};
use crate::stored::Stored;

/// An order's hold as the capture, the release and the sweep read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HoldView {
    pub order_id: OrderId,
    pub status: Stored<OrderStatus>,
    pub capture_method: String,
    pub stripe_payment_intent_id: Option<String>,
    pub amount_total: Option<i64>,
    pub amount_capturable: Option<i64>,
    pub capture_before: Option<DateTime<Utc>>,
    pub capture_requested_amount: Option<i64>,
    pub capture_requested_at: Option<DateTime<Utc>>,
    pub release_requested_at: Option<DateTime<Utc>>,
    pub pay_attempt: i32,
}

impl HoldView {
    pub fn capture_method(&self) -> CaptureMethod {
        CaptureMethod::parse(&self.capture_method).unwrap_or_default()
    }

    /// The amount held: Stripe's `amount_capturable`, else the order's total.
    pub fn held(&self) -> Option<i64> {
        self.amount_capturable.or(self.amount_total)
    }
}

/// The order's hold, its row locked (every path that asks Stripe about a hold locks first).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Option<HoldView>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, status, capture_method, stripe_payment_intent_id, amount_total,
               amount_capturable, capture_before, capture_requested_amount,
               capture_requested_at, release_requested_at, pay_attempt
        FROM h2s_orders WHERE order_id = $1
        FOR UPDATE
        "#,
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await
}

/// The order's capture method (`None`: no such order).
pub async fn capture_method(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Option<CaptureMethod>, sqlx::Error> {
    let text: Option<String> =
        sqlx::query_scalar(r#"SELECT capture_method FROM h2s_orders WHERE order_id = $1"#)
            .bind(order_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(text.map(|t| CaptureMethod::parse(&t).unwrap_or_default()))
}

/// The order's capture method and payment attempt (`None`: no such order).
pub async fn method_and_attempt(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Option<(CaptureMethod, i32)>, sqlx::Error> {
    let row: Option<(String, i32)> =
        sqlx::query_as(r#"SELECT capture_method, pay_attempt FROM h2s_orders WHERE order_id = $1"#)
            .bind(order_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(m, a)| (CaptureMethod::parse(&m).unwrap_or_default(), a)))
}

/// Whether the hold's end is the charge's own (not an estimate).
pub async fn capture_before_exact(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<bool, sqlx::Error> {
    let exact: Option<bool> =
        sqlx::query_scalar(r#"SELECT capture_before_exact FROM h2s_orders WHERE order_id = $1"#)
            .bind(order_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(exact.unwrap_or(false))
}

/// Records the capture the job's completion asks for (`amount`: the held amount when `None`).
/// `false` if one was asked already: one capture per attempt.
pub async fn request_capture(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    amount: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        UPDATE h2s_orders
        SET capture_requested_amount = $2, capture_requested_at = now(), updated_at = now()
        WHERE order_id = $1 AND capture_requested_at IS NULL
        "#,
    )
    .bind(order_id)
    .bind(amount)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the hold is to be released. `false` if it was asked already.
pub async fn request_release(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        UPDATE h2s_orders SET release_requested_at = now(), updated_at = now()
        WHERE order_id = $1 AND release_requested_at IS NULL
        "#,
    )
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the hold as warned of its end. `true` the first time (per payment attempt).
pub async fn mark_warned(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"
        UPDATE h2s_orders SET authorization_warned_at = now()
        WHERE order_id = $1 AND authorization_warned_at IS NULL
        "#,
    )
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Starts a new payment attempt for a lapsed hold: the attempt counted, and the old attempt's
/// session, PaymentIntent and hold forgotten (the new session and its PaymentIntent are
/// stored as the first were; a late event of the old PaymentIntent finds no order). The
/// caller moves the status (`PaymentEvent::NewPayLink`) in the same transaction. The new
/// attempt's number.
pub async fn new_attempt(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        r#"
        UPDATE h2s_orders
        SET pay_attempt = pay_attempt + 1,
            pay_link_requested_at = now(),
            stripe_session_id = NULL,
            stripe_session_url = NULL,
            stripe_session_expires_at = NULL,
            stripe_session_checked_at = NULL,
            stripe_payment_intent_id = NULL,
            amount_capturable = NULL,
            authorized_at = NULL,
            capture_before = NULL,
            capture_before_exact = false,
            capture_requested_amount = NULL,
            capture_requested_at = NULL,
            release_requested_at = NULL,
            authorization_warned_at = NULL,
            updated_at = now()
        WHERE order_id = $1
        RETURNING pay_attempt
        "#,
    )
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await
}

/// Authorized orders whose hold ends before `before` and has not been warned of, oldest end
/// first, at most `limit` (the sweep's watch; `h2s_orders_holds`).
pub async fn nearing_end(
    pool: &sqlx::PgPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(OrderId, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, capture_before FROM h2s_orders
        WHERE status = 'authorized' AND capture_before < $1
          AND authorization_warned_at IS NULL
        ORDER BY capture_before
        LIMIT $2
        "#,
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Authorized orders whose hold has ended by `now` (the sweep asks Stripe about each: a
/// lapse whose event was missed).
pub async fn past_end(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(OrderId, String)>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, stripe_payment_intent_id FROM h2s_orders
        WHERE status = 'authorized' AND capture_before < $1
          AND stripe_payment_intent_id IS NOT NULL
        ORDER BY capture_before
        LIMIT $2
        "#,
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}
