//! `capture`: capture a held payment once its job is completed (`payments::hold_steps`).

use super::Tasks;
use crate::{
    orders::OrderId,
    payments::hold_steps::{self, Step},
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    tasks: &Tasks,
    _ack: &Attempt,
    order_id: &OrderId,
    attempt: &i32,
) -> Result<(), TaskError> {
    hold_steps::run(
        &tasks.pool,
        &tasks.stripe,
        order_id,
        *attempt,
        Step::Capture,
    )
    .await
}
