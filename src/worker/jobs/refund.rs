//! `refund`: carry out an operator's refund request (`refunds::task`), one task per request.

use uuid::Uuid;

use super::Tasks;
use crate::{
    orders::OrderId,
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    tasks: &Tasks,
    _ack: &Attempt,
    _order_id: &OrderId,
    refund_request_id: &Uuid,
) -> Result<(), TaskError> {
    crate::refunds::task::carry_out(&tasks.pool, &tasks.stripe, *refund_request_id).await
}
