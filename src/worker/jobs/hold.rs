//! `capture`, `release`, `check_hold`: a held payment's steps (`payments::hold_steps`).

use sqlx::PgPool;

use crate::{
    outbox::OutboxTask,
    payments::hold_steps::{self, Step},
    queue::TaskError,
    stripe::StripeHttp,
};

pub(super) async fn run(
    pool: &PgPool,
    stripe: &StripeHttp,
    task: &OutboxTask,
) -> Result<(), TaskError> {
    let (order_id, attempt, step) = match task {
        OutboxTask::Capture { order_id, attempt } => (order_id, *attempt, Step::Capture),
        OutboxTask::Release { order_id, attempt } => (order_id, *attempt, Step::Release),
        OutboxTask::CheckHold { order_id, attempt } => (order_id, *attempt, Step::Check),
        other => {
            return Err(TaskError::permanent(format!(
                "not a hold's task: {}",
                other.kind()
            )));
        }
    };
    hold_steps::run(pool, stripe, order_id, attempt, step).await
}
