//! `ensure_dispatch_job`: make sure a (paid) order has its dispatch job, with the status its
//! order implies (`dispatch::ensure_job`), and complete the task in the same commit.

use super::Tasks;
use crate::{
    dispatch,
    orders::OrderId,
    queue::{Attempt, TaskError},
};

pub(super) async fn run(tasks: &Tasks, ack: &Attempt, order_id: &OrderId) -> Result<(), TaskError> {
    let mut tx = tasks.pool.begin().await?;
    dispatch::ensure_job(&mut tx, order_id).await?;
    ack.complete_in(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
