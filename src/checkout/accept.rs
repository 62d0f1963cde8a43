//! Accepting a checkout: its order and its outbox task written by one statement, which is its
//! own transaction. One round trip where a `BEGIN`, two `INSERT`s and a `COMMIT` took four;
//! either both rows are written or neither.

use std::sync::LazyLock;

use chrono::Utc;
use uuid::Uuid;

use crate::{
    orders::{OrderId, repo},
    outbox::{self, OutboxTask},
    queue::Commits,
};

/// `$1`..`$5` the task (`outbox::bind`), `$6`..`$18` the order (`repo::bind_checkout`), `$19`
/// the quiet mark (`Commits::quiet_value`). The task's payload takes the order row's
/// `created_at` (the database's clock), which it carries for its first run.
static SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}, {} {}",
        Commits::quiet_cte(19),
        repo::checkout_order_cte(6, "FROM quiet"),
        outbox::insert_sql(
            "convert_to(jsonb_set(convert_from($3, 'UTF8')::jsonb, '{inputs,created_at}', \
             to_jsonb(new_order.created_at))::text, 'UTF8')",
            "FROM new_order",
        )
    )
});

/// A new checkout to accept: its order and the parts of its task known before the write.
pub struct Accept<'a> {
    pub order_id: &'a OrderId,
    pub order: &'a repo::NewOrder<'a>,
    pub checkout_trace_id: Uuid,
    /// The `Idempotency-Key` and the keyed hash of the request's body.
    pub keyed: Option<(&'a str, &'a str)>,
    pub request_id: Option<&'a str>,
    /// The api waits for the checkout's end (its budget is not zero): the worker tells it.
    pub waited: bool,
}

/// Writes the order (`pending_payment`) and its checkout task, then wakes the workers (the
/// statement is quiet when `commits` are). A taken `Idempotency-Key` fails the statement with
/// the unique index's violation, and nothing is written.
pub async fn accept(commits: &Commits, new: Accept<'_>) -> Result<(), sqlx::Error> {
    let task = OutboxTask::Checkout {
        order_id: new.order_id.clone(),
        checkout_trace_id: new.checkout_trace_id,
        request_id: new.request_id.map(str::to_owned),
        // `created_at` is replaced by the order row's in the statement.
        inputs: Some(Box::new(repo::CheckoutInputs {
            waited: new.waited,
            ..repo::checkout_inputs(new.order, Utc::now())
        })),
    };
    let query = outbox::bind(sqlx::query(sqlx::AssertSqlSafe(SQL.as_str())), &task);
    repo::bind_checkout(
        query,
        new.order_id,
        new.order,
        new.checkout_trace_id,
        new.keyed,
    )
    .bind(commits.quiet_value())
    .execute(commits.pool())
    .await?;
    commits.committed();
    Ok(())
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
