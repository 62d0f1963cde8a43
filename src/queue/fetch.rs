//! How the worker claims rows: apalis-postgres's backend, with its fetch replaced.
//!
//! apalis checks its wake-up source once per poll and drops a notification that arrives while
//! a fetch is in flight, so a row committed just after a fetch's snapshot waits for the
//! fallback poll; and it claims `batch_size` rows whatever the free concurrency. [`Fetcher`]
//! keeps apalis's storage for what it does well (registering the worker, heartbeats, handing
//! back a dead worker's rows, writing starts and completions in batches) and owns the fetch,
//! shaped as graphile-worker's and River's:
//! - a wake-up (a notification, the fallback poll, a reconnected listener) that comes while a
//!   fetch is in flight starts a second one at once when slots are free beyond what the first
//!   may claim (what the notification announced may have committed after the first's
//!   snapshot: it does not wait for that round trip); otherwise it sets `again`, and one more
//!   fetch follows as soon as one may run;
//! - a fetch that came back full is followed by another at once;
//! - a fetch claims as many rows as there are free slots (capped by `batch_size`), in one
//!   statement (its own transaction: one round trip), and runs on its own task, overlapping
//!   the completion writes;
//! - apalis's writes of starts and completions no longer hold the next dispatch back.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{Backend, WorkerContext};
use apalis_core::backend::{BackendConfig, WireFormatBackend};
use apalis_postgres::{Config, Error, PgTask, PostgresStorage};
use sqlx::PgPool;
use tokio::{sync::mpsc, task::JoinHandle, time::Interval};

use super::{service::Payload, slots::InFlight};

type Fetch = JoinHandle<Result<Vec<PgTask>, Error>>;

/// Fetches in flight at once: one, and one more for a wake-up that came during it.
const MAX_FETCHES: usize = 2;

pub(super) struct Fetcher {
    storage: PostgresStorage<Payload>,
    pool: PgPool,
    config: Config,
    concurrency: usize,
    in_flight: InFlight,
    /// Wake-ups from the listener (`listen`), coalesced.
    wake: mpsc::Receiver<()>,
    poll: Interval,
    buffer: VecDeque<PgTask>,
    /// The fetches in flight (at most [`MAX_FETCHES`]), and how many rows each may claim.
    fetches: Vec<(Fetch, usize)>,
    /// A wake-up came since the last fetch started: fetch (again) as soon as one may run.
    again: bool,
    /// apalis has registered the worker (rows it claims name it: not before).
    registered: bool,
    /// The last fetch came back full: more rows wait, so up to `concurrency` rows more than
    /// the free slots are claimed ahead (a local queue, as graphile-worker's), one fetch
    /// serving several attempts.
    deep: bool,
}

impl Fetcher {
    pub(super) fn new(
        pool: &PgPool,
        config: Config,
        concurrency: usize,
        in_flight: InFlight,
        wake: mpsc::Receiver<()>,
        poll_interval: Duration,
    ) -> Self {
        let mut poll = tokio::time::interval(poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            storage: PostgresStorage::new(pool).with_config(config.clone()),
            pool: pool.clone(),
            config,
            concurrency,
            in_flight,
            wake,
            poll,
            buffer: VecDeque::new(),
            fetches: Vec::new(),
            again: true,
            registered: false,
            deep: false,
        }
    }

    /// Takes every wake-up that came (and registers for the next ones).
    fn drain_wake_ups(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some(())) = self.wake.poll_recv(cx) {
            self.again = true;
        }
        while self.poll.poll_tick(cx).is_ready() {
            self.again = true;
        }
    }

    /// Free slots (twice the concurrency on a deep queue) not already covered by buffered
    /// rows or by fetches in flight, within `batch_size`.
    fn free(&self) -> usize {
        let claiming: usize = self.fetches.iter().map(|(_, limit)| limit).sum();
        let busy = self.in_flight.count() + self.buffer.len() + claiming;
        let capacity = if self.deep {
            self.concurrency * 2
        } else {
            self.concurrency
        };
        capacity
            .saturating_sub(busy)
            .min(self.config.batch_size.max(1))
    }

    /// Starts a fetch of `limit` rows.
    fn start_fetch(&mut self, worker: &WorkerContext, limit: usize) {
        self.again = false;
        let config = self.config.clone().batch_size(limit);
        let pool = self.pool.clone();
        let worker = worker.clone();
        let fetch = tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            apalis_postgres::queries::fetch_next(&mut *conn, &config, &worker).await
        });
        self.fetches.push((fetch, limit));
    }

    /// Polls the fetches in flight, buffering the rows of those done; `Ready(Ok(()))` once
    /// none is in flight, `Pending` while one is and nothing was buffered.
    fn poll_fetches(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut i = 0;
        let mut landed = false;
        while i < self.fetches.len() {
            let (fetch, limit) = &mut self.fetches[i];
            let result = match Pin::new(fetch).poll(cx) {
                Poll::Pending => {
                    i += 1;
                    continue;
                }
                Poll::Ready(joined) => joined.unwrap_or_else(|e| {
                    Err(Error::Database(sqlx::Error::Protocol(format!(
                        "the outbox fetch did not finish: {e}"
                    ))))
                }),
            };
            let limit = *limit;
            self.fetches.swap_remove(i);
            let rows = result?;
            // Full: more rows may be waiting; look again as soon as a slot is free.
            self.deep = rows.len() >= limit;
            self.again |= self.deep;
            landed |= !rows.is_empty();
            self.buffer.extend(rows);
        }
        if self.fetches.is_empty() || landed {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl Backend for Fetcher {
    type Task = PgTask;
    type Error = Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        // apalis writes starts and completions (and heartbeats) here, and would hold every
        // new attempt back until each write has committed: one fsync per dispatch. Once the
        // worker is registered, those writes run beside the dispatch instead (driven by
        // every call; their waker stays registered).
        match self.storage.poll_ready(cx, worker) {
            Poll::Ready(Ok(())) => {
                self.registered = true;
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.registered => Poll::Ready(Ok(())),
            other => other,
        }
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<PgTask, Error>>> {
        loop {
            self.drain_wake_ups(cx);
            if let Some(task) = self.buffer.pop_front() {
                // The last buffered row of a deep queue: the next rows are claimed meanwhile.
                if self.buffer.is_empty() && self.deep && self.again && self.fetches.is_empty() {
                    let free = self.free();
                    if free > 0 {
                        self.start_fetch(worker, free);
                    }
                }
                return Poll::Ready(Some(Ok(task)));
            }
            match self.poll_fetches(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(())) if !self.buffer.is_empty() => continue,
                // None in flight: apalis asks for a row only when its service has a free
                // slot, so at least one is claimed.
                Poll::Ready(Ok(())) if self.again => self.start_fetch(worker, self.free().max(1)),
                // Idle: the listener's and the poll's wakers are registered.
                Poll::Ready(Ok(())) => return Poll::Pending,
                // One in flight: a wake-up since it started claims at once what it may
                // miss, with the slots it leaves free.
                Poll::Pending if self.again && self.fetches.len() < MAX_FETCHES => {
                    match self.free() {
                        0 => return Poll::Pending,
                        free => self.start_fetch(worker, free),
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Lets a fetch in flight finish (so that its rows are released with the others' by the
    /// runtime's `release_claims`), forgets the buffered rows, and closes apalis's side.
    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        if self.poll_fetches(cx).is_pending() || !self.fetches.is_empty() {
            return Poll::Pending;
        }
        self.buffer.clear();
        self.storage.poll_close(cx, worker)
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        for (fetch, _) in self.fetches.drain(..) {
            fetch.abort();
        }
    }
}

impl BackendConfig for Fetcher {
    type Args = Payload;
    type Id = <PostgresStorage<Payload> as BackendConfig>::Id;
    type Kind = <PostgresStorage<Payload> as BackendConfig>::Kind;
    type Config = Config;
    type Layer = <PostgresStorage<Payload> as BackendConfig>::Layer;

    fn config(&self) -> &Config {
        &self.config
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.storage.middleware(worker)
    }
}

impl WireFormatBackend for Fetcher {
    type Codec = <PostgresStorage<Payload> as WireFormatBackend>::Codec;
    type Compact = <PostgresStorage<Payload> as WireFormatBackend>::Compact;

    fn codec(&self) -> &Self::Codec {
        self.storage.codec()
    }
}
