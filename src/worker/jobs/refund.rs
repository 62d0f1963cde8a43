//! `refund`: carry out an operator's refund request (`refunds::task`), one task per request.

use sqlx::PgPool;
use uuid::Uuid;

use crate::{queue::TaskError, stripe::StripeHttp};

pub(super) async fn run(
    pool: &PgPool,
    stripe: &StripeHttp,
    refund_request_id: Uuid,
) -> Result<(), TaskError> {
    crate::refunds::task::carry_out(pool, stripe, refund_request_id).await
}
