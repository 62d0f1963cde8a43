//! The queue runner, on a job type of its own (no app, no domain), against a real Postgres,
//! one fresh database per test.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use proptest::prelude::*;
use sqlx::PgPool;
use tokio::{sync::oneshot, task::JoinHandle};

use serde::{Deserialize, Serialize};

use super::*;

use crate::test_db;

async fn fresh_db() -> test_db::TestDatabase {
    test_db::TestDatabase::migrated(12).await
}

/// The queue these tests run.
const QUEUE: &str = "test_jobs";

/// The runner's test job: an id, nothing of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TestJob {
    id: uuid::Uuid,
}

impl Job for TestJob {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn span(&self, task_id: &str, attempt: i32) -> tracing::Span {
        tracing::info_span!("test_job", task_id, attempt)
    }
}

impl TestJob {
    fn idempotency_key(&self) -> String {
        format!("test:{}", self.id)
    }
}

fn a_job() -> TestJob {
    TestJob {
        id: uuid::Uuid::new_v4(),
    }
}

/// Writes `job` inside `tx`, as an app's enqueue does: a row of [`QUEUE`], due now.
async fn enqueue_in(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, job: &TestJob) {
    sqlx::query(
        r#"
        INSERT INTO apalis.jobs
            (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
        VALUES ($1, $2, $3, 'Pending', 0, $4, now(), 0, $5)
        "#,
    )
    .bind(ulid::Ulid::new().to_string())
    .bind(QUEUE)
    .bind(serde_json::to_vec(job).unwrap())
    .bind(UNSET_MAX_ATTEMPTS)
    .bind(job.idempotency_key())
    .execute(&mut **tx)
    .await
    .unwrap();
}

/// The dead rows of [`QUEUE`]: how many, and the age of the oldest.
struct Dead {
    count: i64,
    oldest_age: Option<f64>,
}

async fn dead_tasks(pool: &PgPool) -> Result<Dead, sqlx::Error> {
    let (count, oldest_age) = sqlx::query_as(
        r#"
        SELECT count(*), EXTRACT(EPOCH FROM now() - min(run_at))::float8
        FROM apalis.jobs
        WHERE job_type = $1
          AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
        "#,
    )
    .bind(QUEUE)
    .fetch_one(pool)
    .await?;
    Ok(Dead { count, oldest_age })
}

/// A handler that records when it was called and answers from a script (1-based call no).
#[derive(Clone)]
struct Scripted {
    calls: Arc<Mutex<Vec<Instant>>>,
    outcome: Arc<dyn Fn(usize) -> Result<(), TaskError> + Send + Sync>,
    work: Duration,
    /// (in flight now, most ever in flight at once)
    in_flight: Arc<Mutex<(usize, usize)>>,
    /// Told at each call, as it starts.
    started: Arc<tokio::sync::Notify>,
}

impl Scripted {
    fn new(outcome: impl Fn(usize) -> Result<(), TaskError> + Send + Sync + 'static) -> Self {
        Self {
            calls: Arc::default(),
            outcome: Arc::new(outcome),
            work: Duration::ZERO,
            in_flight: Arc::default(),
            started: Arc::default(),
        }
    }

    fn succeeding() -> Self {
        Self::new(|_| Ok(()))
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

impl TaskHandler for Scripted {
    type Job = TestJob;

    fn handle(
        &self,
        _task: TestJob,
        _attempt: super::Attempt,
    ) -> impl Future<Output = Result<(), TaskError>> + Send {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Instant::now());
            calls.len()
        };
        self.started.notify_one();
        let outcome = (self.outcome)(call);
        let work = self.work;
        let in_flight = self.in_flight.clone();
        async move {
            {
                let mut n = in_flight.lock().unwrap();
                n.0 += 1;
                n.1 = n.1.max(n.0);
            }
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            in_flight.lock().unwrap().0 -= 1;
            outcome
        }
    }
}

fn retryable(retry_after: Option<Duration>) -> TaskError {
    TaskError::retryable("upstream 503", retry_after)
}

fn fast_config() -> RuntimeConfig {
    let mut config = RuntimeConfig::new(QUEUE, RuntimeConfig::unique_name("test"));
    config.concurrency = 8;
    config.batch_size = 8;
    config.poll_interval = Duration::from_millis(50);
    config.heartbeat = Duration::from_secs(1);
    config.missed_heartbeats = 2;
    config.retry = RetryPolicy {
        max_retries: 5,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };
    config
}

struct Running {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<anyhow::Result<()>>,
}

fn start(pool: &PgPool, config: RuntimeConfig, handler: Scripted) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(run(pool.clone(), config, handler, async move {
        let _ = stopped.await;
    }));
    Running { stop, handle }
}

impl Running {
    /// Signals shutdown and returns how long `run` took to return `Ok`.
    async fn shut_down(self) -> Duration {
        let asked = Instant::now();
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("run returns within 10 s of shutdown")
            .expect("run does not panic")
            .expect("run returns Ok");
        asked.elapsed()
    }
}

async fn enqueue(pool: &PgPool, task: &TestJob) {
    let mut tx = pool.begin().await.unwrap();
    enqueue_in(&mut tx, task).await;
    tx.commit().await.unwrap();
}

/// A connection listening on the queue's insert channel.
async fn listening(pool: &PgPool) -> sqlx::postgres::PgListener {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen(listen::CHANNEL).await.unwrap();
    listener
}

/// A transaction with a task written in it, not committed.
async fn pool_tx_with_task(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    enqueue_in(&mut tx, &a_job()).await;
    tx
}

/// A row whose limit some process wrote before (an older build's enqueue, an earlier worker).
async fn set_max_attempts(pool: &PgPool, task: &TestJob, max_attempts: i32) {
    sqlx::query("UPDATE apalis.jobs SET max_attempts = $2 WHERE idempotency_key = $1")
        .bind(task.idempotency_key())
        .bind(max_attempts)
        .execute(pool)
        .await
        .unwrap();
}

/// `(status, attempts, max_attempts)` of the task's row.
async fn row(pool: &PgPool, task: &TestJob) -> (String, i32, i32) {
    sqlx::query_as(
        r#"
        SELECT status, attempts, max_attempts
        FROM apalis.jobs
        WHERE job_type = $1 AND idempotency_key = $2
        "#,
    )
    .bind(QUEUE)
    .bind(task.idempotency_key())
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits on a condition, polling every 20 ms; panics after `within`.
async fn wait_for<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_status(pool: &PgPool, task: &TestJob, status: &str, within: Duration) {
    wait_for(&format!("status {status}"), within, || async {
        row(pool, task).await.0 == status
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueued_task_is_handled_once_and_ends_done() {
    let db = fresh_db().await;
    let handler = Scripted::succeeding();
    let worker = start(&db.pool, fast_config(), handler.clone());
    let task = a_job();

    enqueue(&db.pool, &task).await;

    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(5)).await;
    assert_eq!(handler.count(), 1);
    assert_eq!(row(&db.pool, &task).await.1, 1, "one attempt recorded");
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_retried_after_a_growing_backoff_until_it_succeeds() {
    let db = fresh_db().await;
    let config = fast_config();
    let base = config.retry.base;
    let handler = Scripted::new(|call| {
        if call <= 2 {
            Err(retryable(None))
        } else {
            Ok(())
        }
    });
    let worker = start(&db.pool, config, handler.clone());
    let task = a_job();

    enqueue(&db.pool, &task).await;

    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(10)).await;
    let calls = handler.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(row(&db.pool, &task).await.1, 3);
    let (first_gap, second_gap) = (calls[1] - calls[0], calls[2] - calls[1]);
    assert!(
        first_gap >= base,
        "first retry after {first_gap:?} < {base:?}"
    );
    assert!(
        second_gap >= base * 2,
        "second retry after {second_gap:?} < {:?}",
        base * 2
    );
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_from_the_server_is_the_minimum_wait() {
    let db = fresh_db().await;
    let retry_after = Duration::from_millis(600);
    let handler = Scripted::new(move |call| {
        if call == 1 {
            Err(retryable(Some(retry_after)))
        } else {
            Ok(())
        }
    });
    let worker = start(&db.pool, fast_config(), handler.clone());
    let task = a_job();

    enqueue(&db.pool, &task).await;

    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(10)).await;
    let calls = handler.calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1] - calls[0] >= retry_after,
        "retried after {:?}",
        calls[1] - calls[0]
    );
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_not_retried_and_counts_as_dead() {
    let db = fresh_db().await;
    let config = fast_config();
    let poll = config.poll_interval;
    let handler = Scripted::new(|_| Err(TaskError::permanent("price does not exist")));
    let worker = start(&db.pool, config, handler.clone());
    let task = a_job();

    enqueue(&db.pool, &task).await;

    wait_for_status(&db.pool, &task, "Killed", Duration::from_secs(5)).await;
    // A bounded look at several poll intervals: nothing fetches the row again.
    tokio::time::sleep(poll * 8).await;
    assert_eq!(handler.count(), 1);
    assert_eq!(row(&db.pool, &task).await.0, "Killed");
    let dead = dead_tasks(&db.pool).await.unwrap();
    assert_eq!(dead.count, 1);
    assert!(dead.oldest_age.is_some());
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_failing_forever_gets_one_try_plus_max_retries_then_stays_dead() {
    let db = fresh_db().await;
    let mut config = fast_config();
    config.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
    };
    let poll = config.poll_interval;
    let handler = Scripted::new(|_| Err(retryable(None)));
    let worker = start(&db.pool, config, handler.clone());
    let task = a_job();

    enqueue(&db.pool, &task).await;

    wait_for(
        "three attempts recorded",
        Duration::from_secs(10),
        || async { row(&db.pool, &task).await == ("Failed".to_string(), 3, 3) },
    )
    .await;
    tokio::time::sleep(poll * 8).await;
    assert_eq!(handler.count(), 3);
    let dead = dead_tasks(&db.pool).await.unwrap();
    assert_eq!(dead.count, 1);
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_policy_caps_a_row_enqueued_with_more_attempts() {
    let db = fresh_db().await;
    let mut config = fast_config();
    config.retry = RetryPolicy {
        max_retries: 1,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
    };
    let handler = Scripted::new(|_| Err(retryable(None)));
    let task = a_job();

    // Written with a higher limit before this worker starts (see the next test for why before).
    enqueue(&db.pool, &task).await;
    set_max_attempts(&db.pool, &task, 21).await;
    let worker = start(&db.pool, config, handler.clone());

    wait_for(
        "two attempts, then dead",
        Duration::from_secs(10),
        || async { row(&db.pool, &task).await == ("Failed".to_string(), 2, 2) },
    )
    .await;
    assert_eq!(handler.count(), 2);
    assert_eq!(dead_tasks(&db.pool).await.unwrap().count, 1);
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_policy_also_raises_a_row_enqueued_with_fewer_attempts() {
    let db = fresh_db().await;
    let mut config = fast_config();
    config.retry = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
    };
    let handler = Scripted::new(|_| Err(retryable(None)));
    let task = a_job();

    // Enqueued by a process configured with a single attempt, before this worker starts (a
    // worker running already could claim the row between the two statements: the limit is
    // the row's as written, not one changed under a claim).
    enqueue(&db.pool, &task).await;
    set_max_attempts(&db.pool, &task, 1).await;
    let worker = start(&db.pool, config, handler.clone());

    wait_for(
        "four attempts (the worker's policy), then dead",
        Duration::from_secs(10),
        || async { row(&db.pool, &task).await == ("Failed".to_string(), 4, 4) },
    )
    .await;
    assert_eq!(handler.count(), 4);
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_task_in_flight_finish_and_returns_ok_promptly() {
    let db = fresh_db().await;
    let mut handler = Scripted::succeeding();
    handler.work = Duration::from_millis(500);
    let worker = start(&db.pool, fast_config(), handler.clone());
    let task = a_job();
    enqueue(&db.pool, &task).await;
    wait_for("the task to start", Duration::from_secs(5), || async {
        handler.count() == 1
    })
    .await;

    let took = worker.shut_down().await;

    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!(row(&db.pool, &task).await.0, "Done");
    assert_eq!(handler.count(), 1);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_shuts_down_at_once() {
    let db = fresh_db().await;
    let worker = start(&db.pool, fast_config(), Scripted::succeeding());
    wait_for("the worker to register", Duration::from_secs(5), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM apalis.workers")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            == 1
    })
    .await;

    let took = worker.shut_down().await;

    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_picked_up_by_notify_long_before_the_poll() {
    let db = fresh_db().await;
    let mut config = fast_config();
    config.poll_interval = Duration::from_secs(10);
    let handler = Scripted::succeeding();
    let worker = start(&db.pool, config, handler.clone());
    // Warm up: the worker is registered and listening once a first task went through.
    wait_for("the worker to register", Duration::from_secs(5), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM apalis.workers")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    let warm_up = a_job();
    enqueue(&db.pool, &warm_up).await;
    wait_for_status(&db.pool, &warm_up, "Done", Duration::from_secs(12)).await;

    let mut latencies = Vec::new();
    for i in 0..10 {
        let task = a_job();
        let committed = Instant::now();
        enqueue(&db.pool, &task).await;
        wait_for("pickup", Duration::from_secs(1), || async {
            handler.count() == i + 2
        })
        .await;
        latencies.push(*handler.calls().last().unwrap() - committed);
    }

    latencies.sort();
    println!(
        "pickup after commit: min {:?}, median {:?}, max {:?}",
        latencies[0], latencies[5], latencies[9]
    );
    assert!(latencies[9] < Duration::from_secs(1));
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_claimed_task_is_reclaimed_after_the_missed_heartbeats() {
    let db = fresh_db().await;
    let config = fast_config(); // heartbeat 1 s × 2 missed
    let orphan_timeout = config.heartbeat * 2;
    let task = a_job();
    // A worker that claimed the task and died just now: its last heartbeat is its last sign.
    let died = Instant::now();
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query(
        r#"INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
           VALUES ('dead-worker', $1, 'PgStorage', '', now())"#,
    )
    .bind(QUEUE)
    .execute(&mut *tx)
    .await
    .unwrap();
    enqueue_in(&mut tx, &task).await;
    sqlx::query(
        r#"UPDATE apalis.jobs SET status = 'Running', lock_by = 'dead-worker', lock_at = now()
           WHERE idempotency_key = $1"#,
    )
    .bind(task.idempotency_key())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let handler = Scripted::succeeding();

    let worker = start(&db.pool, config, handler.clone());

    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(10)).await;
    let reclaimed_after = handler.calls()[0] - died;
    println!("re-claimed {reclaimed_after:?} after the worker died");
    assert!(
        reclaimed_after >= orphan_timeout,
        "re-claimed too early: {reclaimed_after:?}"
    );
    assert!(
        reclaimed_after < orphan_timeout + Duration::from_secs(2),
        "re-claimed too late: {reclaimed_after:?}"
    );
    assert_eq!(handler.count(), 1);
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_fails_restarts_under_a_new_name_and_keeps_working() {
    let db = fresh_db().await;
    let config = fast_config(); // heartbeat 1 s
    let name = config.worker_name.clone();
    let handler = Scripted::succeeding();
    let worker = start(&db.pool, config, handler.clone());
    let registered = |id: String| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM apalis.workers WHERE id = $1)",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    wait_for("the worker to register", Duration::from_secs(5), || {
        registered(name.clone())
    })
    .await;

    // Its registration vanishes: the next heartbeat fails and apalis stops the worker.
    sqlx::query("DELETE FROM apalis.workers WHERE id = $1")
        .bind(&name)
        .execute(&db.pool)
        .await
        .unwrap();

    wait_for("a new worker generation", Duration::from_secs(10), || {
        registered(format!("{name}-r1"))
    })
    .await;
    let task = a_job();
    enqueue(&db.pool, &task).await;
    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(5)).await;
    assert_eq!(handler.count(), 1);
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_concurrency_tasks_run_at_once() {
    let db = fresh_db().await;
    let mut config = fast_config();
    config.concurrency = 2;
    let mut handler = Scripted::succeeding();
    handler.work = Duration::from_millis(150);
    let worker = start(&db.pool, config, handler.clone());
    let tasks: Vec<_> = (0..6).map(|_| a_job()).collect();

    for task in &tasks {
        enqueue(&db.pool, task).await;
    }

    for task in &tasks {
        wait_for_status(&db.pool, task, "Done", Duration::from_secs(10)).await;
    }
    assert_eq!(handler.count(), 6);
    assert_eq!(handler.in_flight.lock().unwrap().1, 2, "peak in flight");
    worker.shut_down().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_row_is_killed_without_stopping_the_worker() {
    let db = fresh_db().await;
    let handler = Scripted::succeeding();
    let worker = start(&db.pool, fast_config(), handler.clone());
    sqlx::query(
        r#"
        INSERT INTO apalis.jobs
            (id, job_type, job, status, attempts, max_attempts, run_at, priority)
        VALUES ('01J00000000000000000000000', $1,
                convert_to('{"kind":"from_the_future"}', 'UTF8'), 'Pending', 0, 3, now(), 0)
        "#,
    )
    .bind(QUEUE)
    .execute(&db.pool)
    .await
    .unwrap();
    let task = a_job();
    enqueue(&db.pool, &task).await;

    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(5)).await;
    wait_for(
        "the odd row to be killed",
        Duration::from_secs(5),
        || async {
            sqlx::query_scalar::<_, String>(
                "SELECT status FROM apalis.jobs WHERE id = '01J00000000000000000000000'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap()
                == "Killed"
        },
    )
    .await;
    assert_eq!(handler.count(), 1);
    worker.shut_down().await;
    drop(db);
}

/// A notification that arrives while a fetch is in flight is not lost: with the fallback poll
/// at 10 s (and apalis's heartbeat, which also wakes its worker, at 5 s), 100 tasks enqueued
/// one by one, each committed 0 to 7 ms after the previous one started (while the worker is
/// busy writing that start and its end, and fetching again behind it), all start within 1 s
/// of their own commit. apalis alone drops a notification that comes during a fetch; the task
/// then waits for the poll (or the next heartbeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_enqueued_while_the_worker_is_busy_all_start_within_a_second_of_their_commit() {
    let db = fresh_db().await;
    let mut config = fast_config();
    config.poll_interval = Duration::from_secs(10);
    // apalis's heartbeat wakes its worker too: at the default 5 s it is no fallback either.
    config.heartbeat = Duration::from_secs(5);
    config.concurrency = 4;
    config.batch_size = 4;
    let handler = Scripted::succeeding();
    let started = handler.started.clone();
    let worker = start(&db.pool, config, handler.clone());
    wait_for("the worker to register", Duration::from_secs(5), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM apalis.workers")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            == 1
    })
    .await;

    // Each task's transaction is open, its row written, before the previous task starts;
    // it commits as that one starts, when the worker fetches again behind it.
    let mut waits = Vec::new();
    let mut next = Some(pool_tx_with_task(&db.pool).await);
    for i in 0..100u64 {
        // Commits land at 0 to 7 ms into the worker's work behind the previous start (the
        // write of that start, then the fetch).
        tokio::time::sleep(Duration::from_millis(i % 8)).await;
        next.take().unwrap().commit().await.unwrap();
        let committed = Instant::now();
        if i < 99 {
            next = Some(pool_tx_with_task(&db.pool).await);
        }
        let began = tokio::time::timeout_at(
            (committed + Duration::from_secs(1)).into(),
            started.notified(),
        )
        .await;
        assert!(
            began.is_ok(),
            "task {i} did not start within 1 s of its commit (the fallback poll is 10 s)"
        );
        waits.push(committed.elapsed());
    }
    waits.sort();
    println!(
        "start after commit: median {:?}, max {:?}",
        waits[50], waits[99]
    );
    assert_eq!(handler.count(), 100);
    worker.shut_down().await;
    drop(db);
}

/// The insert trigger sends one notification per queue and statement, with a constant
/// payload, so a transaction that enqueues several tasks sends one (Postgres collapses the
/// identical ones), and the listener reads it as a wake-up for the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_enqueuing_several_tasks_notifies_once() {
    let db = fresh_db().await;
    let mut listener = listening(&db.pool).await;
    let mut tx = db.pool.begin().await.unwrap();
    for _ in 0..3 {
        enqueue_in(&mut tx, &a_job()).await;
    }
    tx.commit().await.unwrap();

    let first = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert!(listen::announces(first.payload(), QUEUE));
    assert_eq!(first.payload(), format!(r#"{{"job_type" : "{QUEUE}"}}"#));
    let second = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(second.is_err(), "a second notification: {second:?}");
    drop(db);
}

/// The api's hot paths enqueue quietly (no NOTIFY in their transaction, which would
/// serialise their commits) and wake the workers after the commit: the trigger stays silent
/// for that transaction only, and the waker's one notification is what the listener reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_enqueue_notifies_nothing_and_the_waker_after_the_commit_once() {
    let db = fresh_db().await;
    let mut listener = listening(&db.pool).await;
    // Quiet, with nothing to wake: what the transaction itself sends is all there is.
    let mut tx = Commits::quiet(db.pool.clone(), Vec::new())
        .begin()
        .await
        .unwrap();
    enqueue_in(&mut tx, &a_job()).await;
    enqueue_in(&mut tx, &a_job()).await;
    tx.commit().await.unwrap();
    let heard = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(heard.is_err(), "the quiet transaction notified: {heard:?}");

    // The next transaction is not quiet: the setting was the transaction's own.
    enqueue(&db.pool, &a_job()).await;
    let loud = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert!(listen::announces(
        loud.expect("a notification").unwrap().payload(),
        QUEUE
    ));

    let waker = Waker::start(db.pool.clone(), QUEUE);
    for _ in 0..3 {
        waker.wake();
    }
    let woken = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("the waker's notification")
        .unwrap();
    assert!(listen::announces(woken.payload(), QUEUE));
    drop(db);
}

#[test]
fn unique_names_differ_and_carry_the_prefix() {
    let (a, b) = (
        RuntimeConfig::unique_name("worker"),
        RuntimeConfig::unique_name("worker"),
    );
    assert_ne!(a, b);
    assert!(a.starts_with("worker-"));
    assert!(a.contains(&std::process::id().to_string()));
}

#[test]
fn a_config_whose_orphan_timeout_rounds_to_zero_is_refused() {
    let mut config = RuntimeConfig::new(QUEUE, "w");
    assert!(config.validate().is_ok());
    config.heartbeat = Duration::from_millis(200);
    config.missed_heartbeats = 2;
    assert!(config.validate().is_err());
}

proptest! {
    #[test]
    fn the_delay_lies_in_its_jittered_window_and_honours_retry_after(
        attempt in 1u32..40,
        base_ms in 1u64..5_000,
        cap_ms in 1u64..600_000,
        retry_after_ms in proptest::option::of(0u64..900_000),
    ) {
        let policy = RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(base_ms),
            cap: Duration::from_millis(cap_ms),
        };
        let retry_after = retry_after_ms.map(Duration::from_millis);
        let delay = policy.delay(attempt, retry_after);
        let window = Duration::from_millis(base_ms)
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(policy.cap);
        let floor = (window / 2).max(retry_after.unwrap_or_default());
        prop_assert!(delay >= floor);
        prop_assert!(delay <= window.max(retry_after.unwrap_or_default()));
        if attempt == 1 && policy.cap >= policy.base * 2 {
            prop_assert!(delay >= policy.base);
        }
    }
}

/// A job that writes its effect and completes itself in one transaction; its first
/// `rollbacks` attempts complete and then roll back and fail instead.
#[derive(Clone)]
struct SelfCompleting {
    pool: PgPool,
    rollbacks: usize,
    calls: Arc<Mutex<usize>>,
}

impl TaskHandler for SelfCompleting {
    type Job = TestJob;

    async fn handle(&self, job: TestJob, attempt: Attempt) -> Result<(), TaskError> {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO test_effects (id) VALUES ($1)")
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        attempt.complete_in(&mut tx).await?;
        if call <= self.rollbacks {
            tx.rollback().await?;
            return Err(TaskError::retryable("rolled back after completing", None));
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The transaction that last wrote the task's row, and the one that wrote its effect.
async fn writers(pool: &PgPool, task: &TestJob) -> (String, Option<String>) {
    sqlx::query_as(
        r#"
        SELECT j.xmin::text, (SELECT e.xmin::text FROM test_effects e WHERE e.id = $2)
        FROM apalis.jobs j WHERE j.idempotency_key = $1
        "#,
    )
    .bind(task.idempotency_key())
    .bind(task.id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_completes_itself_commits_its_effect_and_its_end_together_once() {
    let db = fresh_db().await;
    sqlx::query("CREATE TABLE test_effects (id uuid PRIMARY KEY)")
        .execute(&db.pool)
        .await
        .unwrap();
    let handler = SelfCompleting {
        pool: db.pool.clone(),
        rollbacks: 1,
        calls: Arc::default(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(run(
        db.pool.clone(),
        fast_config(),
        handler.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let task = a_job();
    enqueue(&db.pool, &task).await;

    wait_for_status(&db.pool, &task, "Done", Duration::from_secs(10)).await;
    assert_eq!(
        *handler.calls.lock().unwrap(),
        2,
        "the rolled-back attempt ran again"
    );
    assert_eq!(row(&db.pool, &task).await.1, 2, "two attempts recorded");
    let (row_writer, effect_writer) = writers(&db.pool, &task).await;
    assert_eq!(
        Some(row_writer),
        effect_writer,
        "the row was last written by the transaction of the job's effect, and by nothing after"
    );
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    drop(db);
}

/// The waker keeps one connection for its notifications; when that connection dies (a
/// restart, a failover, an idle timeout), the next wake still arrives, on a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_after_the_wakers_connection_died_still_arrives() {
    let db = fresh_db().await;
    let pool = db.pool.clone();
    let mut listener = listening(&pool).await;
    let waker = Waker::start(pool.clone(), QUEUE);
    waker.wake();
    assert!(heard(&mut listener).await.contains(QUEUE));
    // Every other session of this database ends, the waker's kept connection among them.
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND query LIKE '%pg_notify%') AS t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ended, 1, "the waker's one connection");
    waker.wake();
    assert!(heard(&mut listener).await.contains(QUEUE));
}

/// The payload of the next notification `listener` hears, within 10 s.
async fn heard(listener: &mut sqlx::postgres::PgListener) -> String {
    let next = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification within 10 s")
        .unwrap();
    next.payload().to_owned()
}
