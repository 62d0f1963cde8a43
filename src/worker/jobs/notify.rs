//! `notify_paid` and `notify_dispute`: tell the management channel about a newly paid order,
//! or that an order's payment is disputed (its job on hold). One file for both kinds: they
//! are the same work with another message (`notify::Notifier`).

use sqlx::PgPool;

use crate::{notify::Notifier, orders::OrderId, queue::TaskError};

/// Which of the two notices.
pub(super) enum Notice {
    Paid,
    Dispute,
}

pub(super) async fn run(
    pool: &PgPool,
    notifier: &Notifier,
    notice: Notice,
    order_id: &OrderId,
) -> Result<(), TaskError> {
    match notice {
        Notice::Paid => notifier.paid_order(pool, order_id).await,
        Notice::Dispute => notifier.dispute(pool, order_id).await,
    }
}
