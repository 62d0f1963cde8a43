//! Queries on `h2s_orders` that are not status changes (those live in `transition`).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::cart::CartLine;
use super::{OrderId, OrderStatus};
use crate::stored::Stored;

/// A new checkout's order as stored: the parts of the storefront's request, already parsed
/// (`checkout::request::NewCheckout::order`).
pub struct NewOrder<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub phone_e164: Option<&'a str>,
    pub cart: &'a [CartLine],
    pub metadata: &'a std::collections::BTreeMap<String, String>,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

/// Inserts a new checkout's order, `pending_payment`.
pub async fn insert_checkout(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    checkout: &NewOrder<'_>,
    checkout_trace_id: Uuid,
    idempotency: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    let cart = serde_json::to_value(checkout.cart).expect("a cart serialises");
    let metadata = serde_json::to_value(checkout.metadata).expect("metadata serialises");
    sqlx::query(
        r#"
        INSERT INTO h2s_orders
            (order_id, status, customer_email, customer_name, customer_phone, cart_json,
             metadata_json, success_url, cancel_url, checkout_trace_id, idempotency_key,
             request_hash, customer_phone_e164)
        VALUES ($1, 'pending_payment', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        "#,
    )
    .bind(order_id)
    .bind(checkout.email)
    .bind(checkout.name)
    .bind(checkout.phone)
    .bind(cart)
    .bind(metadata)
    .bind(checkout.success_url)
    .bind(checkout.cancel_url)
    .bind(checkout_trace_id)
    .bind(idempotency.map(|(k, _)| k))
    .bind(idempotency.map(|(_, h)| h))
    .bind(checkout.phone_e164)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The order an `Idempotency-Key` created before, with the hash of the body it came with.
#[derive(Debug, sqlx::FromRow)]
pub struct KeyedOrder {
    pub order_id: OrderId,
    pub request_hash: Option<String>,
    pub checkout_trace_id: Option<Uuid>,
}

pub async fn find_by_idempotency_key(
    pool: &PgPool,
    key: &str,
) -> Result<Option<KeyedOrder>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, request_hash, checkout_trace_id
        FROM h2s_orders WHERE idempotency_key = $1
        "#,
    )
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// What the worker needs to create an order's Checkout Session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInputs {
    pub order_id: OrderId,
    pub status: Stored<OrderStatus>,
    pub customer_email: String,
    #[sqlx(json)]
    pub cart_json: Vec<CartLine>,
    #[sqlx(json)]
    pub metadata_json: std::collections::BTreeMap<String, String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub checkout_trace_id: Option<Uuid>,
    pub dispatch_job_id: Option<Uuid>,
    pub stripe_session_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn session_inputs(
    pool: &PgPool,
    order_id: &OrderId,
) -> Result<Option<SessionInputs>, sqlx::Error> {
    sqlx::query_as(
        r#"
        SELECT order_id, status, customer_email, cart_json, metadata_json, success_url,
               cancel_url, checkout_trace_id, dispatch_job_id, stripe_session_id, created_at
        FROM h2s_orders WHERE order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await
}

/// Records the order's Checkout Session. The first session stored wins: a second one (which
/// the idempotency key should make impossible) is never silently swapped in.
pub async fn store_session(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    session_id: &str,
    session_url: Option<&str>,
    expires_at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let expires_at = expires_at.and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));
    let done = sqlx::query(
        r#"
        UPDATE h2s_orders
        SET stripe_session_id = $2,
            stripe_session_url = COALESCE($3, stripe_session_url),
            stripe_session_expires_at = COALESCE($4, stripe_session_expires_at),
            updated_at = now()
        WHERE order_id = $1 AND (stripe_session_id IS NULL OR stripe_session_id = $2)
        "#,
    )
    .bind(order_id)
    .bind(session_id)
    .bind(session_url)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The order's payment status, read inside `tx` (`None`: no such order, or a status this
/// system does not know).
pub async fn status(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<Option<OrderStatus>, sqlx::Error> {
    let status: Option<Stored<OrderStatus>> =
        sqlx::query_scalar(r#"SELECT status FROM h2s_orders WHERE order_id = $1"#)
            .bind(order_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(status.and_then(|s| s.known()))
}
