//! `checkout`: resolve the recipient, create the dispatch job, create the Stripe Checkout
//! Session, complete the task: one commit (`checkout::fulfil`).

use uuid::Uuid;

use super::Tasks;
use crate::{
    checkout,
    orders::{OrderId, repo::CheckoutInputs},
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    tasks: &Tasks,
    ack: &Attempt,
    order_id: &OrderId,
    checkout_trace_id: &Uuid,
    _request_id: &Option<String>,
    inputs: &Option<Box<CheckoutInputs>>,
) -> Result<(), TaskError> {
    let inputs = inputs.as_deref().cloned();
    checkout::fulfil(tasks.fulfil(), order_id, *checkout_trace_id, inputs, ack).await
}
