//! `pay_link`: the Checkout Session of a lapsed hold's new payment attempt, made as the
//! checkout's is (`checkout::fulfil`), under the attempt's own idempotency key.

use super::Tasks;
use crate::{
    checkout,
    orders::OrderId,
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    tasks: &Tasks,
    ack: &Attempt,
    order_id: &OrderId,
    attempt: &i32,
) -> Result<(), TaskError> {
    let trace: Option<Option<uuid::Uuid>> =
        sqlx::query_scalar(r#"SELECT checkout_trace_id FROM h2s_orders WHERE order_id = $1"#)
            .bind(order_id)
            .fetch_optional(&tasks.pool)
            .await?;
    let trace = trace.flatten().unwrap_or_default();
    tracing::info!(attempt, "creating the new payment attempt's session");
    checkout::fulfil(tasks.fulfil(), order_id, trace, None, ack).await
}
