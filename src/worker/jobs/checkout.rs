//! `checkout`: resolve the recipient, create the dispatch job, create the Stripe Checkout
//! Session (`checkout::fulfil`).

use sqlx::PgPool;
use uuid::Uuid;

use crate::{checkout, orders::OrderId, queue::TaskError, stripe::StripeHttp};

pub(super) async fn run(
    pool: &PgPool,
    stripe: &StripeHttp,
    order_id: &OrderId,
    checkout_trace_id: Uuid,
) -> Result<(), TaskError> {
    checkout::fulfil(pool, stripe, order_id, checkout_trace_id).await
}
