//! `notify_paid`: tell the management channel about a newly paid order (`notify::Notifier`).

use super::Tasks;
use crate::{
    orders::OrderId,
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    tasks: &Tasks,
    _ack: &Attempt,
    order_id: &OrderId,
) -> Result<(), TaskError> {
    // The task's span: the notice's read puts the order's trace id on it.
    let task = tracing::Span::current();
    tasks
        .notifier
        .paid_order(&tasks.pool, order_id, &task)
        .await
}
