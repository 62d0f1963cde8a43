//! Wakes API requests waiting for their checkout, by Postgres `LISTEN/NOTIFY`.
//!
//! The worker sends `NOTIFY h2s_checkout_done, '<order_id>'` once the transaction that
//! finishes a checkout (session stored, or order failed) has committed. Each API process holds ONE listening
//! connection and hands notifications to the requests waiting on that order. A request
//! registers before its order commits, so a notification cannot slip past it; if the listening
//! connection drops, or the process distrusts its connections after a failover (it may sit on
//! the old primary, hearing nothing the new one sends), it is reopened and every waiter is
//! woken to re-read the database.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::Notify;

use crate::orders::OrderId;

pub const CHANNEL: &str = "h2s_checkout_done";

type Slots = HashMap<String, Vec<(u64, Arc<Notify>)>>;

#[derive(Clone, Default)]
pub struct Waiters {
    slots: Arc<Mutex<Slots>>,
    next_id: Arc<AtomicU64>,
}

/// A registration; dropping it unregisters.
pub struct Waiter {
    waiters: Waiters,
    order_id: String,
    id: u64,
    notify: Arc<Notify>,
}

impl Waiter {
    /// Resolves at the next notification for this order (or one that came since the last call).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut slots = self.waiters.slots.lock().expect("waiters lock");
        if let Some(list) = slots.get_mut(&self.order_id) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                slots.remove(&self.order_id);
            }
        }
    }
}

impl Waiters {
    /// Starts the listening task of this process.
    pub async fn listen(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let waiters = Waiters::default();
        let first = Listening::open(pool).await?;
        tokio::spawn(waiters.clone().serve(pool.clone(), first));
        Ok(waiters)
    }

    /// Hands notifications to waiters; reopens the connection when it fails, or when the
    /// process distrusts its connections (a failover or a stall: `db::health`), since one
    /// left on the old primary would hear nothing the new one sends. Every reopening wakes
    /// everyone to re-read the database, as notifications may have been missed.
    async fn serve(self, pool: PgPool, first: Listening) {
        let mut marks = crate::db::distrust_marks();
        let mut current = Some(first);
        loop {
            let Some(listening) = current.as_mut() else {
                match Listening::open(&pool).await {
                    Ok(l) => current = Some(l),
                    Err(e) => Self::failed(&e).await,
                }
                self.wake_all();
                continue;
            };
            tokio::select! {
                received = listening.listener.try_recv() => match received {
                    Ok(Some(n)) => self.wake(n.payload()),
                    // The connection dropped and sqlx re-established it: notifications may
                    // have been lost, so everyone re-reads.
                    Ok(None) => self.wake_all(),
                    Err(e) => {
                        current = None;
                        self.wake_all();
                        Self::failed(&e).await;
                    }
                },
                _ = marks.changed() => {
                    if crate::db::distrusted_since(listening.opened) {
                        current = None;
                        self.wake_all();
                    }
                }
            }
        }
    }

    async fn failed(e: &sqlx::Error) {
        let outage = crate::db::outage(e).map_or("other", crate::db::Outage::as_str);
        tracing::warn!(error = %e, outage, "checkout listener failed; reconnecting");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    pub fn register(&self, order_id: &OrderId) -> Waiter {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        self.slots
            .lock()
            .expect("waiters lock")
            .entry(order_id.as_str().to_owned())
            .or_default()
            .push((id, notify.clone()));
        Waiter {
            waiters: self.clone(),
            order_id: order_id.as_str().to_owned(),
            id,
            notify,
        }
    }

    fn wake(&self, order_id: &str) {
        if let Some(list) = self.slots.lock().expect("waiters lock").get(order_id) {
            list.iter().for_each(|(_, n)| n.notify_one());
        }
    }

    fn wake_all(&self) {
        for list in self.slots.lock().expect("waiters lock").values() {
            list.iter().for_each(|(_, n)| n.notify_one());
        }
    }
}

/// The `LISTEN` connection, and when it was taken (on `db::mark_clock`).
struct Listening {
    listener: PgListener,
    opened: u64,
}

impl Listening {
    async fn open(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let opened = crate::db::mark_clock();
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Listening { listener, opened })
    }
}

/// Sent by the worker once the transaction that finishes a checkout has committed, on a
/// statement of its own: a NOTIFY inside that transaction would hold a cluster-wide lock
/// through its WAL flush, and the worker's commits could not be grouped (BENCHMARKS.md: the
/// drain stayed at ~200 tasks/s from concurrency 4 to 64). One task per process sends the
/// ends it is told of, at once when it is idle, else all those that came meanwhile in its
/// next statement (`pg_notify` over an array: one round trip, no transaction id, nothing to
/// flush). Best effort: a worker that dies between the commit and this leaves the request
/// to its wait budget (then 202 and a status URL); the order is stored either way.
#[derive(Clone)]
pub struct Signals {
    /// `None`: tells nobody ([`Signals::SILENT`]).
    ends: Option<tokio::sync::mpsc::UnboundedSender<OrderId>>,
}

impl Signals {
    /// Tells nobody: for a checkout no request waits on.
    pub const SILENT: Signals = Signals { ends: None };

    /// Starts the sending task; it ends with the last clone.
    pub fn start(pool: PgPool) -> Self {
        let (ends, mut told) = tokio::sync::mpsc::unbounded_channel::<OrderId>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while told.recv_many(&mut batch, 1024).await > 0 {
                let ids: Vec<&str> = batch.iter().map(OrderId::as_str).collect();
                if let Err(e) =
                    sqlx::query(r#"SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id"#)
                        .bind(CHANNEL)
                        .bind(&ids)
                        .execute(&pool)
                        .await
                {
                    tracing::warn!(error = %e, "could not signal the checkouts' end to waiting requests");
                }
                batch.clear();
            }
        });
        Self { ends: Some(ends) }
    }

    /// After the commit that ends `order_id`'s checkout: its waiting requests will hear of it.
    pub fn done(&self, order_id: &OrderId) {
        if let Some(ends) = &self.ends {
            let _ = ends.send(order_id.clone());
        }
    }
}
