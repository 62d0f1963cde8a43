//! The seven sections of the benchmark (issue 5). Each returns rows of the table.

use std::time::{Duration, Instant};

use anyhow::Context;
use h2s_dispatch::orders::OrderId;
use sqlx::PgPool;
use stripe_standin::{Faults, PaymentStatus, StandIn, StandInConfig, WebhookTarget};

use crate::{
    Row, cpu,
    load::{self, Req},
    procs::{self, Env, WEBHOOK_SECRET},
};

pub struct Plan {
    pub concurrencies: Vec<usize>,
    /// The worker's `--stripe-max-rps` in section 2.
    pub e2e_max_rps: u32,
    /// Seconds of each measured run of sections 1 and 2.
    pub secs: u64,
    pub quick: bool,
}

pub fn verdict(ok: bool) -> String {
    if ok { "met" } else { "**MISSED**" }.to_string()
}

pub async fn standin(latency_ms: u64) -> anyhow::Result<StandIn> {
    StandIn::spawn(StandInConfig {
        latency: Duration::from_millis(latency_ms),
        ..StandInConfig::default()
    })
    .await
}

/// The order and outbox inserts of `POST /api/shop`, as the API sends them: one statement,
/// its own transaction (`checkout::accept`), the outbox row's trigger silent
/// (`h2s.wake_after_commit`), the workers woken after it; the task's payload takes the order
/// row's `created_at`.
const PGBENCH_SCRIPT: &str = r#"\set r random(1, 9000000000000000)
WITH quiet AS (SELECT set_config('h2s.wake_after_commit', 'on', true) AS mark), new_order AS (INSERT INTO h2s_orders (order_id, status, customer_email, customer_name, customer_phone, cart_json, metadata_json, success_url, cancel_url, checkout_trace_id, idempotency_key, request_hash, customer_phone_e164, capture_method) SELECT 'PGB-' || :client_id::text || '-' || :r::text, 'pending_payment', 'pgbench+' || :r::text || '@example.com', 'Ann', '+15551234567', '[{"price_id":"price_123","qty":1}]', '{"service_address":"123 Test St"}', 'https://shop.example/thanks', 'https://shop.example/cart', gen_random_uuid(), 'pgb-' || :client_id::text || '-' || :r::text, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '+15551234567', 'automatic' FROM quiet RETURNING created_at) INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key) SELECT 'PGB' || :client_id::text || '-' || :r::text, 'h2s_outbox', convert_to(jsonb_set(convert_from(convert_to('{"kind":"checkout","order_id":"PGB-' || :client_id::text || '-' || :r::text || '","checkout_trace_id":"00000000-0000-0000-0000-000000000000","request_id": null,"inputs":{"customer_email":"pgbench+' || :r::text || '@example.com","cart":[{"price_id":"price_123","qty":1}],"metadata":{"service_address":"123 Test St"},"success_url":"https://shop.example/thanks","cancel_url":"https://shop.example/cart","created_at":"2026-12-07T20:00:00.123456Z","capture":"automatic","waited": false}}', 'UTF8'), 'UTF8')::jsonb, '{inputs,created_at}', to_jsonb(new_order.created_at))::text, 'UTF8'), 'Pending', 0, 9, now(), 0, 'checkout:' || 'PGB-' || :client_id::text || '-' || :r::text FROM new_order ON CONFLICT (job_type, idempotency_key) DO UPDATE SET status = 'Pending', attempts = 0, run_at = now(), lock_by = NULL, lock_at = NULL, done_at = NULL, job = convert_to((convert_from(apalis.jobs.job, 'UTF8')::jsonb - 'inputs')::text, 'UTF8') WHERE (apalis.jobs.status = 'Failed' AND apalis.jobs.attempts >= apalis.jobs.max_attempts) OR apalis.jobs.status = 'Killed';
"#;

/// 1. Checkout accept: the API alone (no worker, no wait) beside pgbench with the same SQL.
pub async fn accept(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let (db, pool) = env.fresh_db("accept").await?;
    let (mut api, base) = env.api(&db, &["--checkout-wait-ms", "0"]).await?;
    let script = env.log_dir.join("checkout.pgbench.sql");
    std::fs::write(&script, PGBENCH_SCRIPT)?;
    let notifying = env.log_dir.join("checkout-notifying.pgbench.sql");
    std::fs::write(
        &notifying,
        PGBENCH_SCRIPT.replace(
            "'h2s.wake_after_commit', 'on'",
            "'h2s.wake_after_commit', 'off'",
        ),
    )?;
    let mut rows = Vec::new();
    for &c in &plan.concurrencies {
        let run = format!("acc{c}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let warm_base = base.clone();
        let warm_run = format!("{run}w");
        load::closed_loop(c, Duration::from_secs(2), false, move |n| {
            Some(load::checkout_req(&warm_base, &warm_run, n))
        })
        .await;
        checkpoint(&pool).await;
        let (b, r) = (base.clone(), run.clone());
        let meter = cpu::start(&db, Some(api.child.id()), None).await?;
        let mut api_stats = load::closed_loop(c, Duration::from_secs(plan.secs), false, move |n| {
            Some(load::checkout_req(&b, &r, n))
        })
        .await;
        let usage = meter.cpu().await;
        checkpoint(&pool).await;
        let (tps, pg_lat, _) =
            tokio::task::block_in_place(|| procs::pgbench(&db, &script, c, plan.secs))?;
        // What a NOTIFY inside the transaction (the trigger's, as before) would cost.
        checkpoint(&pool).await;
        let (notifying_tps, _, _) =
            tokio::task::block_in_place(|| procs::pgbench(&db, &notifying, c, plan.secs))?;
        let ratio = api_stats.per_sec() / tps;
        let accepted = api_stats.status(202);
        rows.push(Row::new(
            "1 accept",
            format!("{c} client(s), no worker"),
            format!(
                "api {:.0} req/s (p50 {:.1} / p95 {:.1} / p99 {:.1} ms; {}) · **{}** (api) · pgbench {:.0} tx/s ({:.1} ms avg) · **ratio {:.2}** · pgbench with the trigger's NOTIFY in the transaction {:.0} tx/s",
                api_stats.per_sec(),
                api_stats.pct_ms(50.0),
                api_stats.pct_ms(95.0),
                api_stats.pct_ms(99.0),
                if accepted == api_stats.count() { "all 202".to_string() } else { api_stats.statuses_text() },
                usage.per(api_stats.count() as f64, "checkout"),
                tps,
                pg_lat,
                ratio,
                notifying_tps
            ),
            "ratio ≥ 0.8",
            verdict(ratio >= 0.8),
        ));
        eprintln!("{}", rows.last().unwrap().line());
    }
    api.stop(Duration::from_secs(10));
    pool.close().await;
    env.drop_db(&db).await;
    Ok(rows)
}

async fn checkpoint(pool: &PgPool) {
    let _ = sqlx::query("CHECKPOINT").execute(pool).await;
}

/// Peak RSS readings of section 2, for section 7.
#[derive(Default)]
pub struct Memory {
    pub api_mib: f64,
    pub worker_mib: f64,
}

/// 2. End to end at a fixed offered rate, with the stand-in at `latency_ms`.
pub async fn end_to_end(
    env: &Env,
    plan: &Plan,
    latency_ms: u64,
    memory: &mut Memory,
) -> anyhow::Result<Vec<Row>> {
    const RATE: f64 = 100.0;
    let stripe = standin(latency_ms).await?;
    let (db, pool) = env.fresh_db("e2e").await?;
    let (mut api, base) = env.api(&db, &[]).await?;
    let cap = plan.e2e_max_rps.to_string();
    let mut worker = env.worker(
        &db,
        &stripe.base_url(),
        &["--concurrency", "64", "--stripe-max-rps", &cap],
    )?;
    let http = load::client();
    let run = format!(
        "e2e{latency_ms}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let (b, r) = (base.clone(), format!("{run}w"));
    load::open_loop(&http, RATE, Duration::from_secs(2), false, move |n| {
        load::checkout_req(&b, &r, n)
    })
    .await;
    let (b, r) = (base.clone(), run.clone());
    let mut stats = load::open_loop(
        &http,
        RATE,
        Duration::from_secs(plan.secs * 2),
        true,
        move |n| load::checkout_req(&b, &r, n),
    )
    .await;
    let with_session = stats.session_ids.len();
    let (p50, p99) = (stats.pct_ms(50.0), stats.pct_ms(99.0));
    let n202 = stats.status(202);
    let api_mib = api.peak_rss_mib().unwrap_or(f64::NAN);
    let worker_mib = worker.peak_rss_mib().unwrap_or(f64::NAN);
    memory.api_mib = memory.api_mib.max(api_mib);
    memory.worker_mib = memory.worker_mib.max(worker_mib);
    let (target, ok) = if latency_ms == 0 {
        (
            "p50 ≤ 15 ms, p99 ≤ 50 ms and ≤ 3 × p50, 0 × 202".to_string(),
            p50 <= 15.0 && p99 <= 50.0 && p99 <= 3.0 * p50 && n202 == 0,
        )
    } else {
        let bound = latency_ms as f64 + 50.0;
        (format!("p99 ≤ {bound:.0} ms"), p99 <= bound)
    };
    let row = Row::new(
        "2 end to end",
        format!(
            "{RATE:.0}/s open loop, {}s, stand-in {latency_ms} ms, worker cap {}/s",
            plan.secs * 2,
            plan.e2e_max_rps
        ),
        format!(
            "p50 {p50:.1} ms · p99 {p99:.1} ms · {} sent: {} with session URL, {n202} × 202 ({}) · peak RSS api {api_mib:.1} MiB, worker {worker_mib:.1} MiB",
            stats.count(),
            with_session,
            stats.statuses_text()
        ),
        target,
        verdict(ok),
    );
    eprintln!("{}", row.line());
    worker.stop(Duration::from_secs(10));
    api.stop(Duration::from_secs(10));
    pool.close().await;
    env.drop_db(&db).await;
    Ok(vec![row])
}

/// Writes `n` checkouts straight into a migrated database: orders and their outbox tasks, as
/// the API would have (one order per customer).
pub async fn seed_checkouts(pool: &PgPool, n: usize) -> anyhow::Result<()> {
    let mut ids = Vec::with_capacity(n);
    let mut task_ids = Vec::with_capacity(n);
    let mut traces = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let now = chrono::Utc::now();
    for _ in 0..n {
        let id = OrderId::generate();
        let trace = uuid::Uuid::new_v4();
        // What the api's task carries: the order's session inputs (as inserted below).
        let inputs = serde_json::from_value(serde_json::json!({
            "customer_email": format!("drain+{}@example.com", id.as_str()),
            "cart": [{"price_id": "price_123", "qty": 1}],
            "metadata": {"service_address": "1 Main St"},
            "success_url": "https://shop.example/thanks",
            "cancel_url": "https://shop.example/cart",
            "created_at": now,
            "capture": "automatic",
            // Written straight into the outbox: no request waits on them.
            "waited": false,
        }))
        .expect("checkout inputs");
        // What the worker takes as carried (else it reads the order and tells a waiter).
        let carried: &h2s_dispatch::orders::repo::CheckoutInputs = &inputs;
        anyhow::ensure!(
            carried.clone().session_inputs(&id, trace).is_some(),
            "the seeded checkout's inputs are not what the api writes"
        );
        payloads.push(
            serde_json::to_vec(&h2s_dispatch::outbox::OutboxTask::Checkout {
                order_id: id.clone(),
                checkout_trace_id: trace,
                request_id: None,
                inputs: Some(Box::new(inputs)),
            })
            .unwrap(),
        );
        ids.push(id.as_str().to_owned());
        task_ids.push(ulid::Ulid::new().to_string());
        traces.push(trace);
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        r#"
        INSERT INTO h2s_orders
            (order_id, status, customer_email, customer_name, cart_json, metadata_json,
             success_url, cancel_url, checkout_trace_id)
        SELECT o, 'pending_payment', 'drain+' || o || '@example.com', 'Ann',
               '[{"price_id":"price_123","qty":1}]', '{"service_address":"1 Main St"}',
               'https://shop.example/thanks', 'https://shop.example/cart', t
        FROM UNNEST($1::text[], $2::uuid[]) AS u(o, t)
        "#,
    )
    .bind(&ids)
    .bind(&traces)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO apalis.jobs
            (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
        SELECT i, $4, p, 'Pending', 0, 9, now(), 0, 'checkout:' || o
        FROM UNNEST($1::text[], $2::text[], $3::bytea[]) AS u(i, o, p)
        "#,
    )
    .bind(&task_ids)
    .bind(&ids)
    .bind(&payloads)
    .bind(h2s_dispatch::outbox::QUEUE)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn pending_tasks(pool: &PgPool) -> i64 {
    sqlx::query_scalar(r#"SELECT count(*) FROM apalis.jobs WHERE status <> 'Done'"#)
        .fetch_one(pool)
        .await
        .unwrap_or(-1)
}

/// 3. Drain: `n` checkouts waiting in the outbox, then the worker starts.
pub async fn drain(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for latency_ms in [0u64, 400] {
        for conc in [4usize, 16, 64] {
            let n = match (latency_ms, plan.quick) {
                (0, false) => 3_000,
                (0, true) => 600,
                // About 10 s of work at the ideal rate of conc / latency.
                (_, false) => conc * 25,
                (_, true) => conc * 5,
            };
            let stripe = standin(latency_ms).await?;
            let (db, pool) = env.fresh_db("drain").await?;
            seed_checkouts(&pool, n).await?;
            // Its backends exit, and so flush their counts before the meter starts.
            pool.close().await;
            let started = Instant::now();
            let c = conc.to_string();
            let mut worker = env.worker(
                &db,
                &stripe.base_url(),
                &["--concurrency", &c, "--stripe-max-rps", "100000"],
            )?;
            let meter = cpu::start(&db, Some(worker.child.id()), None).await?;
            let pool = meter.pool();
            let deadline = started + Duration::from_secs(240);
            let mut reads = 1;
            let mut left = pending_tasks(pool).await;
            while left != 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                left = pending_tasks(pool).await;
                reads += 1;
            }
            let wall = started.elapsed();
            let span: f64 = sqlx::query_scalar(
                r#"SELECT COALESCE(EXTRACT(EPOCH FROM max(done_at) - min(done_at))::float8, 0) FROM apalis.jobs"#,
            )
            .fetch_one(pool)
            .await?;
            reads += 1;
            let rate = (n as f64 - 1.0) / span.max(1e-3);
            let mut usage = meter.cpu().await;
            worker.stop(Duration::from_secs(10));
            usage.commits = meter.commits_since(reads).await;
            env.drop_db(&db).await;
            // The baseline, in the same run: pgbench running the worker's step.
            let baseline = if latency_ms == 0 && conc <= 16 {
                let tps = crate::queue::worker_step(env, plan, conc).await?;
                Some((tps, rate / tps))
            } else {
                None
            };
            let ideal = if let Some((tps, ratio)) = baseline {
                format!(" · pgbench worker step (prepared) {tps:.0} tx/s · **ratio {ratio:.2}**")
            } else if latency_ms == 0 {
                String::new()
            } else {
                format!(
                    " (ideal {:.0}/s = concurrency / latency)",
                    conc as f64 / (latency_ms as f64 / 1e3)
                )
            };
            let row = Row::new(
                "3 drain",
                format!("{n} tasks, concurrency {conc}, stand-in {latency_ms} ms"),
                format!(
                    "**{rate:.0} tasks/s**{ideal} · empty after {:.1} s from worker start · **{:.2} commits per task** · {} (worker){}",
                    wall.as_secs_f64(),
                    usage.commits_per(n as f64),
                    usage.per(n as f64, "task"),
                    if left != 0 {
                        format!(" · {left} LEFT")
                    } else {
                        String::new()
                    }
                ),
                if baseline.is_some() {
                    "ratio ≥ 0.8"
                } else {
                    "(no target)"
                },
                match (left, baseline) {
                    (0, Some((_, ratio))) => verdict(ratio >= 0.8),
                    (0, None) => "—".into(),
                    _ => "**INCOMPLETE**".into(),
                },
            );
            eprintln!("{}", row.line());
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Section 4, rate cap: cap 100/s, stand-in at 400 ms and limiting at 100/s like live
/// Stripe, a burst of 1,000 checkouts/s for 10 s.
pub async fn rate_cap(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    const CAP: u32 = 100;
    let burst_secs = if plan.quick { 3 } else { 10 };
    let stripe = standin(400).await?;
    stripe.set_faults(Faults {
        rate_limit_per_sec: Some(CAP),
        ..Faults::default()
    });
    let (db, pool) = env.fresh_db("ratecap").await?;
    let (mut api, base) = env.api(&db, &["--checkout-wait-ms", "0"]).await?;
    let cap = CAP.to_string();
    let mut worker = env.worker(
        &db,
        &stripe.base_url(),
        &["--concurrency", "64", "--stripe-max-rps", &cap],
    )?;
    let http = load::client();
    let run = format!("cap-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let started = Instant::now();
    let b = base.clone();
    let stats = load::open_loop(
        &http,
        10.0 * CAP as f64,
        Duration::from_secs(burst_secs),
        true,
        move |n| load::checkout_req(&b, &run, n),
    )
    .await;
    let burst_took = started.elapsed();
    let acked = stats.order_ids.clone();
    let deadline = started + Duration::from_secs(60 + 2 * acked.len() as u64 / CAP as u64);
    let mut done = procs::completed(&pool, &acked).await;
    while done < acked.len() as i64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        done = procs::completed(&pool, &acked).await;
    }
    let drained_after = started.elapsed();
    let lost = acked.len() as i64 - done;
    let peak = stripe.calls_per_second_peak();
    let limited = stripe.rate_limited_count();
    let row = Row::new(
        "4 rate cap",
        format!(
            "cap {CAP}/s, stand-in 400 ms (limit {CAP}/s), burst {}/s × {burst_secs} s",
            10 * CAP
        ),
        format!(
            "**peak {peak} calls/s** · {limited} × 429 · {} acked ({}) in {:.1} s · drained in {:.1} s (ideal {:.0} s) · lost {lost}",
            acked.len(),
            stats.statuses_text(),
            burst_took.as_secs_f64(),
            drained_after.as_secs_f64(),
            acked.len() as f64 / CAP as f64
        ),
        format!("peak ≤ {CAP}, 0 lost"),
        verdict(peak <= CAP as usize && lost == 0 && stats.ok_2xx() == stats.count()),
    );
    eprintln!("{}", row.line());
    worker.stop(Duration::from_secs(10));
    api.stop(Duration::from_secs(10));
    pool.close().await;
    env.drop_db(&db).await;
    Ok(vec![row])
}

/// 5. Webhook: distinct signed `checkout.session.completed` (paid) events, closed loop.
pub async fn webhook(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let n = if plan.quick { 500 } else { 3_000 };
    let stripe = standin(0).await?;
    let (db, pool) = env.fresh_db("webhook").await?;
    let (mut api, base) = env.api(&db, &[]).await?;
    let mut worker = env.worker(
        &db,
        &stripe.base_url(),
        &["--concurrency", "16", "--stripe-max-rps", "100000"],
    )?;
    let run = format!("wh-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let b = base.clone();
    let total = n as u64;
    let created = load::closed_loop(16, Duration::from_secs(600), true, move |i| {
        (i < total).then(|| load::checkout_req(&b, &run, i))
    })
    .await;
    // Pay every session without delivering (the target refuses connections), then sign the
    // completed events for delivery by the load client.
    stripe.set_webhook_target(WebhookTarget {
        url: "http://127.0.0.1:9/unreachable".into(),
        secret: WEBHOOK_SECRET.into(),
    });
    let mut events = Vec::with_capacity(created.session_ids.len());
    for id in &created.session_ids {
        let _ = stripe.complete_session(id, PaymentStatus::Paid).await;
        events.push(
            stripe
                .build_event("checkout.session.completed", id)
                .context("signing an event")?,
        );
    }
    let events = std::sync::Arc::new(events);
    let url = format!("{base}/api/stripe-webhook");
    let ev = events.clone();
    let meter = cpu::start(&db, Some(api.child.id()), Some(worker.child.id())).await?;
    let mut stats = load::closed_loop(16, Duration::from_secs(600), false, move |i| {
        ev.get(i as usize).map(|e| Req {
            url: url.clone(),
            body: e.payload.clone(),
            headers: vec![("Stripe-Signature", e.signature_header.clone())],
        })
    })
    .await;
    let mut usage = meter.cpu().await;
    // The tasks the events enqueued (`notify_paid`), run by the worker: then every commit
    // of the events' handling is counted.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reads = 1;
    while pending_tasks(meter.pool()).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        reads += 1;
    }
    usage.commits = meter.commits_since(reads).await;
    let paid: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM h2s_orders WHERE status = 'paid'"#)
        .fetch_one(&pool)
        .await?;
    worker.stop(Duration::from_secs(10));
    api.stop(Duration::from_secs(10));
    pool.close().await;
    env.drop_db(&db).await;
    // The baseline, in the same run: pgbench running the webhook's own transaction.
    let tps = crate::webhook_sql::baseline(env, plan, 16).await?;
    let ratio = stats.per_sec() / tps;
    let ok = stats.ok_2xx() == stats.count() && stats.count() > 0;
    let row = Row::new(
        "5 webhook",
        format!("{} distinct signed paid events, 16 clients", events.len()),
        format!(
            "**{:.0} events/s** · p50 {:.1} ms · p99 {:.1} ms · {} · **{}** (api; beside: the worker, its `notify_paid` tasks; Postgres: every backend of the database, the worker's too) · **{:.2} commits per event** (api and worker, its `notify_paid` tasks included) · {paid} orders paid · pgbench, the webhook's transaction (prepared, 16 clients) {tps:.0} tx/s · **ratio {ratio:.2}**",
            stats.per_sec(),
            stats.pct_ms(50.0),
            stats.pct_ms(99.0),
            stats.statuses_text(),
            usage.per(stats.count() as f64, "event"),
            usage.commits_per(stats.count() as f64),
        ),
        "all 2xx, ratio ≥ 0.8",
        verdict(ok && ratio >= 0.8),
    );
    eprintln!("{}", row.line());
    Ok(vec![row])
}

/// Fills a migrated database with `n` paid orders, each with its dispatch job except 10.
async fn seed_sweep(pool: &PgPool, n: i64) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    // Bulk load: skip the circular foreign keys (orders ↔ jobs) row by row; the data is
    // consistent by construction.
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    // A million rows take longer than the pool's statement timeout.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        r#"
        INSERT INTO h2s_recipients (recipient_id, email, name)
        SELECT md5('r' || i)::uuid, 'sweep' || i || '@example.com', 'Ann'
        FROM generate_series(0, 999) i
        "#,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO h2s_orders
            (order_id, status, dispatch_job_id, stripe_session_id, customer_email, cart_json,
             metadata_json, amount_total, currency, created_at, updated_at, paid_at)
        SELECT 'ORD-S' || lpad(i::text, 15, '0'), 'paid',
               CASE WHEN i <= 10 THEN NULL ELSE md5('j' || i)::uuid END,
               'cs_test_sweep_' || i, 'sweep' || (i % 1000) || '@example.com',
               '[{"price_id":"price_123","qty":1}]',
               -- The job named both ways, as `dispatch::ensure_job` links it.
               CASE WHEN i <= 10 THEN '{"service_address":"1 Main St"}'::jsonb
                    ELSE jsonb_build_object('service_address', '1 Main St',
                                            'dispatch_job_id', md5('j' || i)::uuid::text) END,
               10000, 'usd', now() - interval '2 hours', now() - interval '2 hours',
               now() - interval '2 hours'
        FROM generate_series(1, $1) i
        "#,
    )
    .bind(n)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO h2s_dispatch_jobs
            (job_id, order_id, recipient_id, status, service_address, created_at, updated_at)
        SELECT md5('j' || i)::uuid, 'ORD-S' || lpad(i::text, 15, '0'),
               md5('r' || (i % 1000))::uuid, 'ready', '1 Main St',
               now() - interval '2 hours', now() - interval '2 hours'
        FROM generate_series(11, $1) i
        "#,
    )
    .bind(n)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("VACUUM ANALYZE h2s_orders")
        .execute(pool)
        .await?;
    sqlx::query("VACUUM ANALYZE h2s_dispatch_jobs")
        .execute(pool)
        .await?;
    Ok(())
}

/// One `reconcile --once --json` run: (sweep duration_ms from its report, wall ms, report).
fn reconcile_once(
    env: &Env,
    db: &str,
    stripe: &str,
    dry_run: bool,
) -> anyhow::Result<(f64, f64, serde_json::Value)> {
    let mut args = vec![
        "--once",
        "--json",
        "--database-url",
        db,
        "--stripe-secret-key",
        "sk_test_bench",
        "--stripe-api-base",
        stripe,
    ];
    if dry_run {
        args.push("--dry-run");
    }
    let (code, out, wall) = env.run("reconcile", &args)?;
    let report: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("reconcile printed no JSON report (exit {code}): {out}"))?;
    let ms = report["duration_ms"].as_f64().unwrap_or(f64::NAN);
    Ok((ms, wall.as_secs_f64() * 1e3, report))
}

/// 6. Sweep: 10 orphans among 10k and among 1M paid orders.
pub async fn sweep(env: &Env, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    if !env.has("reconcile") {
        return Ok(vec![Row::new(
            "6 sweep",
            "10 orphans in 10k / 1M",
            "pending: no reconcile binary in this build",
            "≤ 100 ms at 1M, 1M/10k ≤ 2",
            "pending".into(),
        )]);
    }
    let stripe = standin(0).await?;
    let sizes: [i64; 2] = if plan.quick {
        [10_000, 100_000]
    } else {
        [10_000, 1_000_000]
    };
    let mut results = Vec::new();
    let mut rows = Vec::new();
    for size in sizes {
        let (db, pool) = env.fresh_db("sweep").await?;
        let seeded = Instant::now();
        seed_sweep(&pool, size).await?;
        eprintln!(
            "  seeded {size} orders in {:.1} s",
            seeded.elapsed().as_secs_f64()
        );
        let base = stripe.base_url();
        let mut dry = Vec::new();
        for _ in 0..3 {
            let (ms, _, report) =
                tokio::task::block_in_place(|| reconcile_once(env, &db, &base, true))?;
            dry.push((ms, report));
        }
        let (ms, wall, report) =
            tokio::task::block_in_place(|| reconcile_once(env, &db, &base, false))?;
        let orphans_left: i64 = sqlx::query_scalar(
            r#"SELECT count(*) FROM h2s_orders WHERE status = 'paid' AND dispatch_job_id IS NULL"#,
        )
        .fetch_one(&pool)
        .await?;
        let mut dry_ms: Vec<f64> = dry.iter().map(|(m, _)| *m).collect();
        dry_ms.sort_by(f64::total_cmp);
        let row = Row::new(
            "6 sweep",
            format!("10 orphans among {size} paid orders"),
            format!(
                "**repair sweep {ms:.0} ms** ({:.0} ms process wall) · dry runs {:?} ms · repaired {} · orphans left {orphans_left}",
                wall, dry_ms, report["orphans_repaired"]
            ),
            if size >= 1_000_000 {
                "≤ 100 ms"
            } else {
                "—"
            },
            if size >= 1_000_000 {
                verdict(ms <= 100.0 && orphans_left == 0)
            } else if orphans_left == 0 {
                "—".into()
            } else {
                "**ORPHANS LEFT**".into()
            },
        );
        eprintln!("{}", row.line());
        rows.push(row);
        results.push(ms);
        pool.close().await;
        env.drop_db(&db).await;
    }
    if let [small, large] = results[..] {
        let ratio = large / small.max(1.0);
        rows.push(Row::new(
            "6 sweep",
            format!("ratio {} / {}", sizes[1], sizes[0]),
            format!("**{ratio:.2}** (repair sweeps, ms floored at 1)"),
            "≤ 2",
            verdict(ratio <= 2.0),
        ));
    }
    Ok(rows)
}

/// 7. Memory: peak RSS of the api and worker during section 2.
pub fn memory(m: &Memory) -> Vec<Row> {
    vec![
        Row::new(
            "7 memory",
            "api, peak RSS (VmHWM) during section 2",
            format!("**{:.1} MiB**", m.api_mib),
            "≤ 64 MB",
            verdict(m.api_mib * 1.048_576 <= 64.0),
        ),
        Row::new(
            "7 memory",
            "worker, peak RSS (VmHWM) during section 2",
            format!("**{:.1} MiB**", m.worker_mib),
            "(no target)",
            "—".into(),
        ),
    ]
}
