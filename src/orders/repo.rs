//! Queries on `h2s_orders` that are not status changes (those live in `transition`).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::cart::CartLine;
pub use super::inputs::{CheckoutInputs, SessionInputs, session_inputs};
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
    pub capture: super::CaptureMethod,
}

/// A new checkout's order row, `pending_payment`, as the data-modifying CTE `new_order`
/// (returning its `created_at`), for a statement that writes more than it: its values are
/// `$first`.. (13 of them, bound by [`bind_checkout`] in that place), taken once for the row
/// of `from` (a `FROM` clause).
pub fn checkout_order_cte(first: usize, from: &str) -> String {
    let at = |i: usize| format!("${}", first + i);
    let rest = (1..13).map(at).collect::<Vec<_>>().join(", ");
    format!(
        r#"new_order AS (
        INSERT INTO h2s_orders
            (order_id, status, customer_email, customer_name, customer_phone, cart_json,
             metadata_json, success_url, cancel_url, checkout_trace_id, idempotency_key,
             request_hash, customer_phone_e164, capture_method)
        SELECT {}, 'pending_payment', {rest} {from}
        RETURNING created_at
    )"#,
        at(0)
    )
}

/// Binds a new checkout's order as the 13 values of [`checkout_order_cte`], in its order.
pub fn bind_checkout<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    order_id: &'q OrderId,
    checkout: &'q NewOrder<'q>,
    checkout_trace_id: Uuid,
    idempotency: Option<(&'q str, &'q str)>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(order_id)
        .bind(checkout.email)
        .bind(checkout.name)
        .bind(checkout.phone)
        .bind(serde_json::to_value(checkout.cart).expect("a cart serialises"))
        .bind(serde_json::to_value(checkout.metadata).expect("metadata serialises"))
        .bind(checkout.success_url)
        .bind(checkout.cancel_url)
        .bind(checkout_trace_id)
        .bind(idempotency.map(|(k, _)| k))
        .bind(idempotency.map(|(_, h)| h))
        .bind(checkout.phone_e164)
        .bind(checkout.capture.as_str())
}

/// What a new checkout's Checkout Session is made of, for its task to carry (so that the
/// worker calls Stripe without reading the order first); `created_at` is the order row's.
pub fn checkout_inputs(checkout: &NewOrder<'_>, created_at: DateTime<Utc>) -> CheckoutInputs {
    CheckoutInputs {
        customer_email: checkout.email.to_owned(),
        cart: checkout.cart.to_vec(),
        metadata: checkout.metadata.clone(),
        success_url: checkout.success_url.to_owned(),
        cancel_url: checkout.cancel_url.to_owned(),
        created_at,
        capture: Some(checkout.capture),
        waited: true,
    }
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

/// Grows the order's refunded amount to at least `amount` (amounts only grow: events come
/// in any order): `(refunded now, what Stripe took, refunded before)`. What Stripe took is
/// the order's total, or what was captured of a held payment (issue 34): a refund of all of
/// a partial capture is a refund in full.
pub async fn refunded_at_least(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
    amount: i64,
) -> Result<(i64, Option<i64>, i64), sqlx::Error> {
    sqlx::query_as(
        r#"
        UPDATE h2s_orders o
        SET amount_refunded = GREATEST(o.amount_refunded, $2),
            updated_at = CASE WHEN o.amount_refunded < $2 THEN now() ELSE o.updated_at END
        FROM (SELECT amount_refunded FROM h2s_orders WHERE order_id = $1) b
        WHERE o.order_id = $1
        RETURNING o.amount_refunded, COALESCE(o.amount_captured, o.amount_total),
                  b.amount_refunded
        "#,
    )
    .bind(order_id)
    .bind(amount)
    .fetch_one(&mut **tx)
    .await
}

/// An order made from a Stripe session we had no record of (`payments::apply`).
pub struct AdoptedOrder<'a> {
    pub order_id: &'a OrderId,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub metadata: &'a std::collections::BTreeMap<String, String>,
    pub amount_total: Option<i64>,
    pub currency: Option<&'a str>,
    pub checkout_trace_id: Option<Uuid>,
}

/// Inserts an adopted order, `pending_payment`; a concurrent delivery for the same session
/// may have created it first (then nothing happens).
pub async fn insert_adopted(
    tx: &mut Transaction<'_, Postgres>,
    order: &AdoptedOrder<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"
        INSERT INTO h2s_orders
            (order_id, status, customer_email, customer_name, customer_phone, metadata_json,
             amount_total, currency, checkout_trace_id)
        VALUES ($1, 'pending_payment', $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (order_id) DO NOTHING
        "#,
    )
    .bind(order.order_id)
    .bind(order.email)
    .bind(order.name)
    .bind(order.phone)
    .bind(serde_json::to_value(order.metadata).expect("metadata serialises"))
    .bind(order.amount_total)
    .bind(order.currency)
    .bind(order.checkout_trace_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Notes that the sweep asked Stripe about the order's session (once per order).
pub async fn mark_session_checked(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &OrderId,
) -> Result<(), sqlx::Error> {
    sqlx::query(r#"UPDATE h2s_orders SET stripe_session_checked_at = now() WHERE order_id = $1"#)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
