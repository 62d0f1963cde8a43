//! `notify_dispute`: tell the management channel that an order's payment is disputed, its job
//! on hold (`notify::Notifier`).

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
    tasks.notifier.dispute(&tasks.pool, order_id, &task).await
}
