-- Partial indexes for the reconciler's sweep: each query reads only the rows it may repair,
-- so a sweep costs what it repairs, not the size of the tables. (Repair (a) is served by
-- h2s_orders_paid_without_job and (b) by h2s_orders_unpaid, both in the core migration.)

-- (c) Checkouts whose Stripe session was never created.
CREATE INDEX IF NOT EXISTS h2s_orders_checkout_without_session
    ON h2s_orders (created_at, order_id)
    WHERE status = 'pending_payment' AND stripe_session_id IS NULL;

-- (d) Outbox tasks that are dead: killed, or retries exhausted. The predicate is the one
-- `outbox::runtime::dead_tasks` and `outbox::enqueue` use.
CREATE INDEX IF NOT EXISTS h2s_outbox_dead
    ON apalis.jobs (job_type, done_at)
    WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts);

-- (e) Finished outbox tasks, deleted once older than the retention (apalis never deletes).
CREATE INDEX IF NOT EXISTS h2s_outbox_done
    ON apalis.jobs (job_type, done_at)
    WHERE status = 'Done';
