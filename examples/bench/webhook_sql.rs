//! The webhook's own transaction for a paid `checkout.session.completed`, run by pgbench: the
//! statements `payments::handle_event` sends, as Postgres logged them (`log_statement = all`,
//! one delivery of `tests/api/webhook.rs`), each order paid once, with the event feed's two
//! events (`order.paid`, `job.ready`: `events::record`, no endpoint; `": "` in their JSON, as
//! pgbench reads `:name` anywhere as a variable). Like the api's, the
//! transaction sends no NOTIFY (`h2s.wake_after_commit`); the api wakes the workers after.

use sqlx::PgPool;

use crate::{
    procs::Env,
    sections::{Plan, seed_checkouts},
};

pub const WEBHOOK_SCRIPT: &str = r#"SELECT order_id AS oid, job_id AS jid, 'evt_pgb_' || n AS eid, 'pi_pgb_' || n AS pi FROM bench_webhook WHERE n = (SELECT nextval('bench_webhook_seq')) \gset
BEGIN;
SELECT set_config('h2s.wake_after_commit', 'on', true);
INSERT INTO h2s_stripe_events (event_id, event_type, outcome, source) VALUES (:eid, 'checkout.session.completed', 'received', 'webhook') ON CONFLICT (event_id) DO NOTHING;
SELECT pg_advisory_xact_lock(hashtextextended('pi:' || :pi, 0));
SELECT order_id FROM h2s_orders WHERE order_id = :oid;
UPDATE h2s_orders SET dispatch_job_id = CASE WHEN (NULL::uuid IS NOT NULL AND (dispatch_job_id IS DISTINCT FROM NULL::uuid OR (metadata_json->>'dispatch_job_id') IS DISTINCT FROM NULL::text)) THEN NULL::uuid ELSE dispatch_job_id END, metadata_json = CASE WHEN (NULL::uuid IS NOT NULL AND (dispatch_job_id IS DISTINCT FROM NULL::uuid OR (metadata_json->>'dispatch_job_id') IS DISTINCT FROM NULL::text)) THEN jsonb_set(COALESCE(metadata_json, '{}'::jsonb), '{dispatch_job_id}', to_jsonb(NULL::text)) ELSE metadata_json END, stripe_session_id = CASE WHEN (('cs_' || :oid)::text IS NOT NULL AND (stripe_session_id IS NULL OR stripe_session_id = 'cs_' || :oid)) THEN 'cs_' || :oid ELSE stripe_session_id END, stripe_session_url = CASE WHEN (('cs_' || :oid)::text IS NOT NULL AND (stripe_session_id IS NULL OR stripe_session_id = 'cs_' || :oid)) THEN COALESCE(NULL, stripe_session_url) ELSE stripe_session_url END, stripe_session_expires_at = CASE WHEN (('cs_' || :oid)::text IS NOT NULL AND (stripe_session_id IS NULL OR stripe_session_id = 'cs_' || :oid)) THEN COALESCE(now() + interval '1 day', stripe_session_expires_at) ELSE stripe_session_expires_at END, updated_at = now() WHERE order_id = :oid AND ((NULL::uuid IS NOT NULL AND (dispatch_job_id IS DISTINCT FROM NULL::uuid OR (metadata_json->>'dispatch_job_id') IS DISTINCT FROM NULL::text)) OR (('cs_' || :oid)::text IS NOT NULL AND (stripe_session_id IS NULL OR stripe_session_id = 'cs_' || :oid)));
WITH stored AS (UPDATE h2s_orders SET stripe_payment_intent_id = :pi, amount_total = COALESCE(10000, amount_total), currency = COALESCE('usd', currency), updated_at = now() WHERE order_id = :oid AND stripe_payment_intent_id IS NULL AND NOT EXISTS (SELECT 1 FROM h2s_orders WHERE stripe_payment_intent_id = :pi) RETURNING order_id) DELETE FROM h2s_parked_events WHERE payment_intent_id = :pi AND EXISTS (SELECT 1 FROM stored) RETURNING event_id, seq, facts;
SELECT status FROM h2s_orders WHERE order_id = :oid FOR UPDATE;
UPDATE h2s_orders SET status = 'paid', paid_at = COALESCE(paid_at, now()), amount_total = COALESCE(10000, amount_total), currency = COALESCE('usd', currency), failure_reason = COALESCE(NULL, failure_reason), updated_at = now() WHERE order_id = :oid;
WITH o AS (UPDATE h2s_orders SET event_sequence = event_sequence + 1 WHERE order_id = :oid RETURNING order_id, event_sequence, status, amount_total, amount_refunded, currency, metadata_json->>'service_address' AS service_address) SELECT o.event_sequence AS sequence, o.status AS order_status, o.amount_total, o.amount_refunded, o.currency, j.job_id, j.status AS job_status, COALESCE(j.service_address, o.service_address) AS service_address, j.window_start, j.window_end, j.technician FROM o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id;
WITH e AS (INSERT INTO h2s_events (event_id, event_type, order_id, job_id, sequence, body) VALUES ('msg_' || :eid || '_1', 'order.paid', :oid, :jid, 1, '{"type": "order.paid","timestamp": "2026-12-07T04.00.00.000Z","data": {"order_id": "' || :oid || '","job_id": "' || :jid || '","order_status": "paid","job_status": "awaiting_payment","sequence": 1,"amount_total": 10000,"amount_refunded": 0,"currency": "usd","service_address": null,"visit": null}}') RETURNING event_id, event_type), d AS (INSERT INTO h2s_event_deliveries (event_id, endpoint_id) SELECT e.event_id, p.endpoint_id FROM e JOIN h2s_event_endpoints p ON p.enabled AND (p.event_types IS NULL OR e.event_type = ANY (p.event_types)) FOR KEY SHARE OF p RETURNING 1) SELECT count(*) FROM d;
SELECT o.status, o.customer_email, o.customer_name, o.customer_phone, o.metadata_json->>'service_address' AS service_address, j.job_id, o.dispatch_job_id AS linked_column, o.metadata_json->>'dispatch_job_id' AS linked_metadata FROM h2s_orders o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id WHERE o.order_id = :oid FOR UPDATE OF o;
SELECT job_id, status, held_from, cancel_reason FROM h2s_dispatch_jobs WHERE order_id = :oid FOR UPDATE;
WITH moved AS (UPDATE h2s_dispatch_jobs SET status = 'ready', held_from = NULL, window_start = COALESCE(NULL, window_start), window_end = COALESCE(NULL, window_end), technician = COALESCE(NULL, technician), cancel_reason = NULL, updated_at = now() WHERE job_id = :jid RETURNING job_id) INSERT INTO h2s_job_moves (job_id, from_status, to_status, cause, detail) SELECT job_id, 'awaiting_payment', 'ready', 'payment', 'order paid' FROM moved;
WITH o AS (UPDATE h2s_orders SET event_sequence = event_sequence + 1 WHERE order_id = :oid RETURNING order_id, event_sequence, status, amount_total, amount_refunded, currency, metadata_json->>'service_address' AS service_address) SELECT o.event_sequence AS sequence, o.status AS order_status, o.amount_total, o.amount_refunded, o.currency, j.job_id, j.status AS job_status, COALESCE(j.service_address, o.service_address) AS service_address, j.window_start, j.window_end, j.technician FROM o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id;
WITH e AS (INSERT INTO h2s_events (event_id, event_type, order_id, job_id, sequence, body) VALUES ('msg_' || :eid || '_2', 'job.ready', :oid, :jid, 2, '{"type": "job.ready","timestamp": "2026-12-07T04.00.00.000Z","data": {"order_id": "' || :oid || '","job_id": "' || :jid || '","order_status": "paid","job_status": "ready","sequence": 2,"amount_total": 10000,"amount_refunded": 0,"currency": "usd","service_address": null,"visit": null}}') RETURNING event_id, event_type), d AS (INSERT INTO h2s_event_deliveries (event_id, endpoint_id) SELECT e.event_id, p.endpoint_id FROM e JOIN h2s_event_endpoints p ON p.enabled AND (p.event_types IS NULL OR e.event_type = ANY (p.event_types)) FOR KEY SHARE OF p RETURNING 1) SELECT count(*) FROM d;
INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key) VALUES (:eid, 'h2s_outbox', convert_to('{"kind":"notify_paid","order_id":"' || :oid || '"}', 'UTF8'), 'Pending', 0, 2147483647, now(), 0, 'notify_paid:' || :oid) ON CONFLICT (job_type, idempotency_key) DO UPDATE SET status = 'Pending', attempts = 0, run_at = now(), lock_by = NULL, lock_at = NULL, done_at = NULL WHERE (apalis.jobs.status = 'Failed' AND apalis.jobs.attempts >= apalis.jobs.max_attempts) OR apalis.jobs.status = 'Killed';
UPDATE h2s_stripe_events SET outcome = 'applied', order_id = :oid WHERE event_id = :eid;
END;
"#;

/// `n` checkouts as the worker leaves them (recipient, job awaiting payment, linked, a
/// session), numbered in `bench_webhook` for pgbench to take one each.
async fn seed(pool: &PgPool, n: usize) -> anyhow::Result<()> {
    for _ in 0..n.div_ceil(5_000) {
        seed_checkouts(pool, 5_000).await?;
    }
    for sql in [
        "INSERT INTO h2s_recipients (recipient_id, email, name) SELECT gen_random_uuid(), customer_email, customer_name FROM h2s_orders ON CONFLICT DO NOTHING",
        "INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status) SELECT gen_random_uuid(), o.order_id, r.recipient_id, 'awaiting_payment' FROM h2s_orders o JOIN h2s_recipients r ON lower(r.email) = lower(o.customer_email)",
        "UPDATE h2s_orders o SET dispatch_job_id = j.job_id, metadata_json = jsonb_set(o.metadata_json, '{dispatch_job_id}', to_jsonb(j.job_id::text)), stripe_session_id = 'cs_' || o.order_id, stripe_session_expires_at = now() + interval '1 day' FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id",
        "DELETE FROM apalis.jobs",
        "CREATE TABLE bench_webhook (n BIGINT PRIMARY KEY, order_id TEXT NOT NULL, job_id UUID NOT NULL)",
        "INSERT INTO bench_webhook SELECT row_number() OVER (ORDER BY order_id), order_id, job_id FROM h2s_dispatch_jobs",
        "CREATE SEQUENCE bench_webhook_seq",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    let _ = sqlx::query("VACUUM ANALYZE").execute(pool).await;
    let numbered: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_webhook")
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        numbered >= n as i64,
        "only {numbered} of {n} checkouts seeded"
    );
    Ok(())
}

/// pgbench running the webhook's transaction at `clients`, prepared; returns tx/s.
pub async fn baseline(env: &Env, plan: &Plan, clients: usize) -> anyhow::Result<f64> {
    let (db, pool) = env.fresh_db("webhooksql").await?;
    seed(&pool, if plan.quick { 10_000 } else { 30_000 }).await?;
    crate::queue::pgbench_then_drop(
        env,
        (db, pool),
        "webhook",
        WEBHOOK_SCRIPT,
        clients,
        plan.secs,
    )
    .await
}
