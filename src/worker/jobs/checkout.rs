//! `checkout`: resolve the recipient, create the dispatch job, create the Stripe Checkout
//! Session, complete the task: one commit (`checkout::fulfil`).

use uuid::Uuid;

use crate::{
    checkout::{self, Fulfil},
    orders::{OrderId, repo::CheckoutInputs},
    queue::{Attempt, TaskError},
};

pub(super) async fn run(
    with: Fulfil<'_>,
    order_id: &OrderId,
    checkout_trace_id: Uuid,
    inputs: Option<CheckoutInputs>,
    attempt: &Attempt,
) -> Result<(), TaskError> {
    checkout::fulfil(with, order_id, checkout_trace_id, inputs, attempt).await
}
