//! `checkout`: resolve the recipient, create the dispatch job, create the Stripe Checkout
//! Session (`checkout::fulfil`).

use uuid::Uuid;

use super::Tasks;
use crate::{checkout, orders::OrderId, queue::TaskError};

pub(super) async fn run(
    tasks: &Tasks,
    order_id: &OrderId,
    checkout_trace_id: &Uuid,
    _request_id: &Option<String>,
) -> Result<(), TaskError> {
    checkout::fulfil(&tasks.pool, &tasks.stripe, order_id, *checkout_trace_id).await
}
