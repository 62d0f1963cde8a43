//! The one statement that accepts a checkout, against a real database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Accept, accept};
use crate::{
    checkout::{
        is_idempotency_key_conflict,
        request::{NewCheckout, RawCheckout, ReturnUrl, UrlDefaults},
    },
    orders::{CaptureMethod, OrderId},
    queue::{Commits, listen},
};

use crate::test_db;

fn new_checkout() -> NewCheckout {
    let raw: RawCheckout = serde_json::from_value(json!({
        "__action": "create_checkout_session",
        "customer": {"email": "accept@example.com", "name": "Ann", "phone": "+1 555 123 4567"},
        "cart": [{"price_id": "price_123", "qty": 2}],
        "metadata": {"service_address": "1 Main St"},
    }))
    .unwrap();
    let defaults = UrlDefaults {
        success_url: ReturnUrl::parse("https://shop.example/thanks"),
        cancel_url: ReturnUrl::parse("https://shop.example/cart"),
    };
    NewCheckout::parse(raw, &defaults)
        .map_err(|e| e.message)
        .unwrap()
}

async fn run(commits: &Commits, order_id: &OrderId, key: &str) -> Result<(), sqlx::Error> {
    let checkout = new_checkout();
    let order = checkout.order(CaptureMethod::Automatic);
    accept(
        commits,
        Accept {
            order_id,
            order: &order,
            checkout_trace_id: uuid::Uuid::new_v4(),
            keyed: Some((key, "hash")),
            request_id: Some("req-1"),
            waited: false,
        },
    )
    .await
}

/// Both rows, or neither: the order `pending_payment` and its checkout task, whose payload
/// carries the order row's `created_at` (the database's clock, not the api's).
#[tokio::test]
async fn the_order_and_its_task_are_written_together_the_task_carrying_the_rows_created_at() {
    let db = test_db::TestDatabase::migrated(12).await;
    let commits = Commits::quiet(db.pool.clone(), Vec::new());
    let order_id = OrderId::generate();
    run(&commits, &order_id, "key-1").await.unwrap();

    let (status, created_at, email): (String, DateTime<Utc>, String) = sqlx::query_as(
        "SELECT status, created_at, customer_email FROM h2s_orders WHERE order_id = $1",
    )
    .bind(&order_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), email.as_str()),
        ("pending_payment", "accept@example.com")
    );
    let (task, status, key): (Value, String, String) = sqlx::query_as(
        "SELECT convert_from(job, 'UTF8')::jsonb, status, idempotency_key FROM apalis.jobs",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(status, "Pending");
    assert_eq!(key, format!("checkout:{}", order_id.as_str()));
    assert_eq!(task["kind"], "checkout");
    assert_eq!(task["order_id"], order_id.as_str());
    assert_eq!(task["request_id"], "req-1");
    assert_eq!(task["inputs"]["waited"], false);
    assert_eq!(task["inputs"]["cart"][0]["qty"], 2);
    let carried: DateTime<Utc> = serde_json::from_value(task["inputs"]["created_at"].clone())
        .expect("the payload's created_at reads as a time");
    assert_eq!(
        carried, created_at,
        "the task carries the order row's created_at"
    );
}

/// A taken `Idempotency-Key` fails the statement by the key's index, and writes nothing.
#[tokio::test]
async fn a_taken_key_is_the_indexs_conflict_and_writes_nothing() {
    let db = test_db::TestDatabase::migrated(12).await;
    let commits = Commits::quiet(db.pool.clone(), Vec::new());
    run(&commits, &OrderId::generate(), "key-1").await.unwrap();
    let err = run(&commits, &OrderId::generate(), "key-1")
        .await
        .expect_err("the key is taken");
    assert!(is_idempotency_key_conflict(&err), "{err}");
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM h2s_orders), (SELECT count(*) FROM apalis.jobs)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1));
}

/// Quiet, the statement sends no `NOTIFY` of its own (its commit is not serialised behind
/// the notification queue's lock); not quiet, the insert trigger's notification is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_the_statement_notifies_nothing_and_otherwise_the_trigger_does() {
    let db = test_db::TestDatabase::migrated(12).await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool)
        .await
        .unwrap();
    listener.listen(listen::CHANNEL).await.unwrap();
    let quiet = Commits::quiet(db.pool.clone(), Vec::new());
    run(&quiet, &OrderId::generate(), "key-1").await.unwrap();
    let heard = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(heard.is_err(), "the quiet statement notified: {heard:?}");

    let notifying = Commits::notifying(db.pool.clone());
    run(&notifying, &OrderId::generate(), "key-2")
        .await
        .unwrap();
    let loud = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("the trigger's notification")
        .unwrap();
    assert!(listen::announces(loud.payload(), crate::outbox::QUEUE));
}
