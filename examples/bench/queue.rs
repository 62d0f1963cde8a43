//! The outbox's own figures (issue 28): the drain beside pgbench running the worker's step,
//! and the pickup latency (from the enqueuing commit to the task's start).

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::{
    Row,
    procs::{self, Env},
    sections::{Plan, seed_checkouts, standin, verdict},
};

/// The worker's step on one checkout task, in one transaction, as `checkout::fulfil`'s first
/// transaction and apalis's claim and completion send it: claim one row (`FOR UPDATE SKIP
/// LOCKED`), lock the order, upsert the recipient, insert the dispatch job, link it, finish
/// the row. No Stripe call, no session stored: the part that is the queue's and the database's.
pub const WORKER_STEP_SCRIPT: &str = r#"BEGIN;
WITH c AS (SELECT id FROM apalis.jobs WHERE status = 'Pending' AND job_type = 'h2s_outbox' AND run_at <= now() ORDER BY priority DESC, run_at ASC LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE apalis.jobs j SET status = 'Running', lock_by = 'pgbench', lock_at = now() FROM c WHERE j.id = c.id RETURNING j.id AS jid, convert_from(j.job, 'UTF8')::jsonb->>'order_id' AS oid \gset
SELECT customer_email AS email, customer_name AS name, metadata_json->>'service_address' AS addr FROM h2s_orders WHERE order_id = :oid FOR UPDATE \gset
INSERT INTO h2s_recipients (recipient_id, email, name, phone) VALUES (gen_random_uuid(), :email, :name, NULL) ON CONFLICT ((lower(email))) DO UPDATE SET name = COALESCE(h2s_recipients.name, EXCLUDED.name), phone = COALESCE(h2s_recipients.phone, EXCLUDED.phone), updated_at = now() RETURNING recipient_id \gset
INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status, service_address) VALUES (gen_random_uuid(), :oid, :recipient_id, 'awaiting_payment', :addr) ON CONFLICT (order_id) DO UPDATE SET updated_at = h2s_dispatch_jobs.updated_at RETURNING job_id \gset
UPDATE h2s_orders SET dispatch_job_id = :job_id, metadata_json = jsonb_set(COALESCE(metadata_json, '{}'::jsonb), '{dispatch_job_id}', to_jsonb(:job_id::text)), updated_at = now() WHERE order_id = :oid;
UPDATE apalis.jobs SET status = 'Done', attempts = 1, done_at = now() WHERE id = :jid;
END;
"#;

/// pgbench's worker step at `clients`, prepared, on a fresh database with enough checkouts
/// waiting that it never runs dry. Returns tx/s.
pub async fn worker_step(env: &Env, plan: &Plan, clients: usize) -> anyhow::Result<f64> {
    let (db, pool) = env.fresh_db("workerstep").await?;
    // More than pgbench can take in the run (it fails on an empty claim).
    let rows = if plan.quick { 15_000 } else { 40_000 };
    for _ in 0..rows / 5_000 {
        seed_checkouts(&pool, 5_000).await?;
    }
    // The claiming worker, as apalis registers one (`lock_by` references it).
    sqlx::query(
        r#"INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
           VALUES ('pgbench', 'h2s_outbox', 'PgStorage', '', now())"#,
    )
    .execute(&pool)
    .await?;
    let _ = sqlx::query("VACUUM ANALYZE").execute(&pool).await;
    pgbench_then_drop(
        env,
        (db, pool),
        "workerstep",
        WORKER_STEP_SCRIPT,
        clients,
        plan.secs,
    )
    .await
}

/// Runs `script` (named `name` in the log directory) with pgbench on the seeded database,
/// then drops it; returns tx/s.
pub async fn pgbench_then_drop(
    env: &Env,
    (db, pool): (String, PgPool),
    name: &str,
    script: &str,
    clients: usize,
    secs: u64,
) -> anyhow::Result<f64> {
    let path = env.log_dir.join(format!("{name}.pgbench.sql"));
    std::fs::write(&path, script)?;
    let run = tokio::task::block_in_place(|| procs::pgbench(&db, &path, clients, secs));
    pool.close().await;
    env.drop_db(&db).await;
    Ok(run?.0)
}

/// One checkout written as the API writes it (order and outbox row, one transaction);
/// returns the wall-clock time its commit returned.
async fn enqueue_one(pool: &PgPool) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    seed_checkouts(pool, 1).await?;
    Ok(chrono::Utc::now())
}

/// Pickup latency: checkouts enqueued one per transaction at `rate`/s against a running
/// worker (stand-in 0 ms); each task's pickup is its claim, the row's `lock_at` (the claiming
/// transaction's time, on the same clock; the checkout task's first write is its one commit,
/// after the Stripe call). Returns (p50, p99) in ms.
async fn pickup_at(env: &Env, rate: f64, n: usize) -> anyhow::Result<(f64, f64)> {
    let stripe = standin(0).await?;
    let (db, pool) = env.fresh_db("pickup").await?;
    let mut worker = env.worker(
        &db,
        &stripe.base_url(),
        &["--concurrency", "16", "--stripe-max-rps", "100000"],
    )?;
    // The worker is up when a first task went through.
    enqueue_one(&pool).await?;
    wait_jobs(&pool, 1, Duration::from_secs(30)).await?;
    let mut committed = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
        committed.push(enqueue_one(&pool).await?);
    }
    wait_jobs(&pool, n as i64 + 1, Duration::from_secs(60)).await?;
    let created: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar(r#"SELECT lock_at FROM apalis.jobs ORDER BY lock_at OFFSET 1"#)
            .fetch_all(&pool)
            .await?;
    worker.stop(Duration::from_secs(10));
    pool.close().await;
    env.drop_db(&db).await;
    // Starts and commits, each in time order (the queue is first in, first out).
    let mut lat: Vec<f64> = created
        .iter()
        .zip(&committed)
        .map(|(s, c)| ((*s - *c).num_microseconds().unwrap_or(0) as f64 / 1e3).max(0.0))
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct =
        |p: f64| lat[((lat.len() as f64 * p / 100.0).ceil() as usize).clamp(1, lat.len()) - 1];
    Ok((pct(50.0), pct(99.0)))
}

async fn wait_jobs(pool: &PgPool, n: i64, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM h2s_dispatch_jobs")
            .fetch_one(pool)
            .await?;
        if have >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {have} of {n} tasks started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 8. Pickup: from the enqueuing commit to the task's start, idle queue (5/s) and at 100/s.
pub async fn pickup(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (label, rate, n) in [("idle queue, 5/s", 5.0, 100usize), ("100/s", 100.0, 1000)] {
        let n = if plan.quick { n / 4 } else { n };
        let (p50, p99) = pickup_at(env, rate, n).await?;
        let ratio = p99 / p50.max(1e-3);
        let row = Row::new(
            "8 pickup",
            format!("{label}, {n} checkouts, one per transaction, stand-in 0 ms, concurrency 16"),
            format!("p50 {p50:.1} ms · p99 {p99:.1} ms · **p99 / p50 {ratio:.1}**"),
            "p99 ≤ 2 × p50",
            verdict(ratio <= 2.0),
        );
        eprintln!("{}", row.line());
        rows.push(row);
    }
    Ok(rows)
}

/// The pgbench baselines alone, for repeating them: the worker step at 4 and 16 clients, the
/// webhook's transaction at 16.
pub async fn baselines(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for clients in [4, 16] {
        let tps = worker_step(env, plan, clients).await?;
        rows.push(Row::new(
            "baseline",
            format!("pgbench worker step, prepared, {clients} clients"),
            format!("{tps:.0} tx/s"),
            "—",
            "—".into(),
        ));
    }
    let tps = crate::webhook_sql::baseline(env, plan, 16).await?;
    rows.push(Row::new(
        "baseline",
        "pgbench webhook transaction, prepared, 16 clients",
        format!("{tps:.0} tx/s"),
        "—",
        "—".into(),
    ));
    Ok(rows)
}
