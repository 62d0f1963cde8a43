//! Checkout: the API side (order + outbox task in one transaction, then wait) and the worker
//! side (`fulfil`: recipient, dispatch job, Stripe session).

mod accept;
mod fulfil;
pub mod request;
pub mod view;
pub mod waiter;

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

pub use fulfil::{Fulfil, fulfil};
pub use request::IdempotencyKey;
use request::{NewCheckout, keyed_hash};
use waiter::{Waiter, Waiters};

use crate::orders::{OrderId, OrderStatus, repo};

/// Where a checkout stands when the API answers.
#[derive(Debug, Clone)]
pub enum CheckoutOutcome {
    /// The job and the session exist: the customer can pay.
    Ready {
        order_id: OrderId,
        checkout_trace_id: Uuid,
        job_id: Uuid,
        session_id: String,
        session_url: String,
    },
    /// Safe in the database; the worker has not finished within the wait budget.
    Processing {
        order_id: OrderId,
        checkout_trace_id: Uuid,
    },
    /// Stripe refused the session (an unknown price, say); the order is `failed`.
    Failed {
        order_id: OrderId,
        checkout_trace_id: Uuid,
        reason: String,
    },
}

impl CheckoutOutcome {
    pub fn checkout_trace_id(&self) -> Uuid {
        match self {
            CheckoutOutcome::Ready {
                checkout_trace_id, ..
            }
            | CheckoutOutcome::Processing {
                checkout_trace_id, ..
            }
            | CheckoutOutcome::Failed {
                checkout_trace_id, ..
            } => *checkout_trace_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The API's checkout service.
#[derive(Clone)]
pub struct Checkouts {
    pub pool: PgPool,
    pub waiters: Waiters,
    pub wait: Duration,
    /// Where the order's transaction begins: quiet, waking the workers after its commit.
    pub commits: crate::queue::Commits,
    /// How an order is paid when its request does not choose (`PAYMENT_CAPTURE`).
    pub capture: crate::orders::CaptureMethod,
}

impl Checkouts {
    /// Writes the order and its outbox task in one statement (`accept`), then waits (woken by
    /// `NOTIFY`) up to the budget for the worker's result.
    #[tracing::instrument(skip_all, fields(order_id, checkout_trace_id))]
    pub async fn create(
        &self,
        checkout: NewCheckout,
        key: Option<IdempotencyKey>,
        request_id: Option<&str>,
    ) -> Result<CheckoutOutcome, CheckoutError> {
        let deadline = Instant::now() + self.wait;
        let hash = keyed_hash(&checkout, key.as_ref());
        let order_id = OrderId::generate();
        let trace_id = Uuid::new_v4();
        let span = tracing::Span::current();
        span.record("order_id", tracing::field::display(&order_id));
        span.record("checkout_trace_id", tracing::field::display(trace_id));

        let waiter = self.waiters.register(&order_id);
        let order = checkout.order(self.capture);
        let accepted = accept::accept(
            &self.commits,
            accept::Accept {
                order_id: &order_id,
                order: &order,
                checkout_trace_id: trace_id,
                keyed: key.as_ref().map(|k| (k.as_str(), hash.as_str())),
                request_id,
                waited: !self.wait.is_zero(),
            },
        )
        .await;
        if let Err(e) = accepted {
            // The key was seen before (earlier, or by a concurrent request that won the race):
            // the first order's answer, or 409 for another body. Looking the key up only on a
            // conflict keeps the common path to one statement.
            if is_idempotency_key_conflict(&e)
                && let Some(key) = &key
                && let Some(previous) = self.replay(key, &hash).await?
            {
                return Ok(previous);
            }
            return Err(e.into());
        }
        tracing::info!("checkout accepted");
        // Fresh order: the worker cannot be done before it is notified, so wait first.
        let outcome = self
            .await_result(&order_id, trace_id, waiter, deadline, false)
            .await;
        Ok(after_commit(outcome, &order_id, trace_id))
    }

    /// The answer for a key seen before: the same order, or `KeyReused` for another body.
    async fn replay(
        &self,
        key: &IdempotencyKey,
        hash: &str,
    ) -> Result<Option<CheckoutOutcome>, CheckoutError> {
        let Some(previous) = repo::find_by_idempotency_key(&self.pool, key.as_str()).await? else {
            return Ok(None);
        };
        if previous.request_hash.as_deref() != Some(hash) {
            return Err(CheckoutError::KeyReused);
        }
        let trace = previous.checkout_trace_id.unwrap_or_default();
        let waiter = self.waiters.register(&previous.order_id);
        let deadline = Instant::now() + self.wait;
        let outcome = self
            .await_result(&previous.order_id, trace, waiter, deadline, true)
            .await;
        Ok(Some(after_commit(outcome, &previous.order_id, trace)))
    }

    async fn await_result(
        &self,
        order_id: &OrderId,
        trace_id: Uuid,
        waiter: Waiter,
        deadline: Instant,
        mut look_first: bool,
    ) -> Result<CheckoutOutcome, CheckoutError> {
        if self.wait.is_zero() && !look_first {
            return Ok(CheckoutOutcome::Processing {
                order_id: order_id.clone(),
                checkout_trace_id: trace_id,
            });
        }
        loop {
            if look_first && let Some(outcome) = self.finished(order_id, trace_id).await? {
                return Ok(outcome);
            }
            look_first = true;
            if tokio::time::timeout_at(deadline, waiter.notified())
                .await
                .is_err()
            {
                // One last look: the notification may have raced the deadline.
                if let Some(outcome) = self.finished(order_id, trace_id).await? {
                    return Ok(outcome);
                }
                break;
            }
        }
        Ok(CheckoutOutcome::Processing {
            order_id: order_id.clone(),
            checkout_trace_id: trace_id,
        })
    }

    async fn finished(
        &self,
        order_id: &OrderId,
        trace_id: Uuid,
    ) -> Result<Option<CheckoutOutcome>, CheckoutError> {
        let Some(view) = view::view(&self.pool, order_id).await? else {
            return Ok(None);
        };
        if let (Some(job_id), Some(session_id), Some(session_url)) = (
            view.job_id,
            view.session_id.clone(),
            view.session_url.clone(),
        ) {
            return Ok(Some(CheckoutOutcome::Ready {
                order_id: order_id.clone(),
                checkout_trace_id: trace_id,
                job_id,
                session_id,
                session_url,
            }));
        }
        if view.status.known() == Some(OrderStatus::Failed) {
            return Ok(Some(CheckoutOutcome::Failed {
                order_id: order_id.clone(),
                checkout_trace_id: trace_id,
                reason: view
                    .failure_reason
                    .unwrap_or_else(|| "the payment session could not be created".into()),
            }));
        }
        Ok(None)
    }
}

/// Once the order is committed the answer is never an error: a failure while waiting for
/// the worker (the database gone, say) is logged and answered `Processing` (202 with the
/// status URL), because a 5xx would invite the storefront to retry and, without an
/// `Idempotency-Key`, create a second order. The order completes on its own.
fn after_commit(
    outcome: Result<CheckoutOutcome, CheckoutError>,
    order_id: &OrderId,
    trace_id: Uuid,
) -> CheckoutOutcome {
    outcome.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "waiting for a committed checkout failed: answering 202");
        CheckoutOutcome::Processing {
            order_id: order_id.clone(),
            checkout_trace_id: trace_id,
        }
    })
}

/// The unique index on `h2s_orders.idempotency_key` (`migrations/`), by name: another unique
/// violation is not a replay (realworld's `on_constraint`).
const IDEMPOTENCY_KEY_INDEX: &str = "h2s_orders_idempotency_key";

/// The order's `Idempotency-Key` was taken: by an earlier request, or a concurrent one.
pub fn is_idempotency_key_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.is_unique_violation() && d.constraint() == Some(IDEMPOTENCY_KEY_INDEX))
}
