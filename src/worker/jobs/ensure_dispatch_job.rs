//! `ensure_dispatch_job`: make sure a (paid) order has its dispatch job, with the status its
//! order implies (`dispatch::ensure_job`), and complete the task in the same commit.

use sqlx::PgPool;

use crate::{
    dispatch,
    orders::OrderId,
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    pool: &PgPool,
    order_id: &OrderId,
    attempt: &Attempt,
) -> Result<(), TaskError> {
    let mut tx = pool.begin().await?;
    dispatch::ensure_job(&mut tx, order_id).await?;
    attempt.complete_in(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
