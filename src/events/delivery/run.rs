//! The delivery loop of the worker process: woken by `NOTIFY h2s_event_deliveries`, by the
//! time the next delivery falls due, or by a send finishing (room again under an endpoint's
//! cap); bounded by a fallback poll. Sends run outside any transaction, each in its own task.

use std::sync::Arc;

use anyhow::Context;
use sqlx::{PgPool, postgres::PgListener};
use tokio::{sync::Semaphore, task::JoinSet};
use tracing::Instrument;

use super::{
    claim::{Claimed, claim, next_due_in},
    record::{Outcome, record},
    retention,
    send::Sender,
    settings::DeliveryConfig,
};

pub use crate::events::{CHANNEL, WAKE};

/// Delivers events until `shutdown` resolves, then lets the sends in flight finish (each is
/// bounded by the timeout).
pub async fn run(
    pool: PgPool,
    config: DeliveryConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let sender = Sender::new(&config).context("building the delivery HTTP client")?;
    tokio::pin!(shutdown);
    let mut listener = tokio::select! {
        () = &mut shutdown => return Ok(()),
        listener = listen(&pool, config.poll_interval) => listener,
    };
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut sends = JoinSet::new();
    let mut pruned_at: Option<tokio::time::Instant> = None;
    tracing::info!(
        endpoint_concurrency = config.endpoint_concurrency,
        "event delivery started"
    );
    loop {
        if pruned_at.is_none_or(|t| t.elapsed() >= retention::EVERY) {
            pruned_at = Some(tokio::time::Instant::now());
            retention::prune_in_background(&pool, config.retention);
        }
        let wait = match start_due(&pool, &config, &sender, &slots, &mut sends).await {
            Ok(()) => next_due_in(&pool)
                .await
                .ok()
                .flatten()
                .map_or(config.poll_interval, |d| d.min(config.poll_interval)),
            Err(e) => {
                tracing::warn!(error = %e, "event delivery: claiming failed");
                config.poll_interval
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            n = listener.recv() => if let Err(e) = n {
                tracing::warn!(error = %e, "event delivery: LISTEN connection lost");
                tokio::time::sleep(config.poll_interval.min(std::time::Duration::from_secs(1))).await;
            },
            Some(_) = sends.join_next(), if !sends.is_empty() => {},
            () = tokio::time::sleep(wait) => {},
        }
    }
    while sends.join_next().await.is_some() {}
    tracing::info!("event delivery stopped");
    Ok(())
}

/// The `LISTEN` connection, retried until the database answers (a database that is down at
/// start must not leave the worker without deliveries).
async fn listen(pool: &PgPool, pause: std::time::Duration) -> PgListener {
    loop {
        let attempt = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match attempt.await {
            Ok(listener) => return listener,
            Err(e) => {
                tracing::warn!(error = %e, "event delivery: cannot LISTEN yet");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Claims as many due deliveries as there is room for, and starts sending each.
async fn start_due(
    pool: &PgPool,
    config: &Arc<DeliveryConfig>,
    sender: &Sender,
    slots: &Arc<Semaphore>,
    sends: &mut JoinSet<()>,
) -> Result<(), sqlx::Error> {
    let claimed = claim(pool, config, slots.available_permits()).await?;
    for d in claimed {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            break;
        };
        let span = tracing::info_span!("event_delivery", delivery_id = d.delivery_id,
            event_id = %d.event_id, endpoint_id = %d.endpoint_id, attempt = d.attempts);
        let (pool, config, sender) = (pool.clone(), config.clone(), sender.clone());
        sends.spawn(
            async move {
                deliver(&pool, &config, &sender, &d).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    Ok(())
}

/// One attempt, then its record. A record that fails leaves the lease to run out, and the
/// delivery is sent again (at least once; the receiver dedupes on `webhook-id`).
async fn deliver(pool: &PgPool, config: &DeliveryConfig, sender: &Sender, d: &Claimed) {
    let attempt = sender.send(d).await;
    match record(pool, config, d, &attempt).await {
        Ok(outcome) => {
            crate::metrics::event_delivery(outcome.as_str());
            match outcome {
                Outcome::Delivered | Outcome::Retrying => tracing::debug!(
                    outcome = outcome.as_str(),
                    status = attempt.status_code,
                    error = attempt.error.as_deref(),
                    "event delivery attempt"
                ),
                Outcome::Failed => tracing::warn!(
                    error = attempt.error.as_deref(),
                    "event delivery failed: retry schedule spent"
                ),
                Outcome::LeaseLost => tracing::info!("event delivery: lease lost, left as it is"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "event delivery: recording the attempt failed"),
    }
}
