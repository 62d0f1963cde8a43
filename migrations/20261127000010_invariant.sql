-- The invariant, whole (issue 9): every paid order has exactly one dispatch job, linked both
-- ways (`dispatch_job_id` and `metadata_json.dispatch_job_id`), in status `ready` or later.

-- A link names the order's own job: (order_id, dispatch_job_id) must be a job of that order.
-- NOT VALID: enforced for every row written from now on; rows an older system wrote are not
-- rejected here (the sweep relinks them through `dispatch::ensure_job`).
ALTER TABLE h2s_dispatch_jobs
    ADD CONSTRAINT h2s_dispatch_jobs_order_job UNIQUE (order_id, job_id);
ALTER TABLE h2s_orders
    ADD CONSTRAINT h2s_orders_own_dispatch_job_fk
    FOREIGN KEY (order_id, dispatch_job_id) REFERENCES h2s_dispatch_jobs (order_id, job_id)
    NOT VALID;

-- The invariant query's two halves (`invariant::VIOLATIONS_SQL`), each through its own
-- partial index: paid orders not linked both ways (no link, or metadata that does not name
-- the linked job: the comparison is not TRUE)...
CREATE INDEX IF NOT EXISTS h2s_orders_paid_unlinked
    ON h2s_orders (created_at, order_id)
    WHERE status = 'paid'
      AND (dispatch_job_id::text = (metadata_json->>'dispatch_job_id')) IS NOT TRUE;
-- ... with statistics on the comparison, so that the planner's guess of how many rows break
-- it comes from the data (without them it guesses most of the table).
CREATE STATISTICS IF NOT EXISTS h2s_orders_link_stats
    ON ((dispatch_job_id::text = (metadata_json->>'dispatch_job_id')))
    FROM h2s_orders;
-- ... and jobs not (yet, or no longer) ready, whose order may be paid.
CREATE INDEX IF NOT EXISTS h2s_dispatch_jobs_not_ready
    ON h2s_dispatch_jobs (order_id)
    WHERE status IN ('awaiting_payment', 'cancelled');

-- When the order's Checkout Session expires (Stripe's `expires_at`), and when the sweep
-- retrieved it because no terminal event was seen by then (once per order).
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS stripe_session_expires_at TIMESTAMPTZ;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS stripe_session_checked_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS h2s_orders_session_past_expiry
    ON h2s_orders (stripe_session_expires_at)
    WHERE status = 'pending_payment' AND stripe_session_checked_at IS NULL
      AND stripe_session_id IS NOT NULL AND stripe_session_expires_at IS NOT NULL;
-- Sessions stored without an expiry (older systems): Stripe's sessions last at most 24 h.
CREATE INDEX IF NOT EXISTS h2s_orders_session_expiry_unknown
    ON h2s_orders (created_at)
    WHERE status = 'pending_payment' AND stripe_session_checked_at IS NULL
      AND stripe_session_id IS NOT NULL AND stripe_session_expires_at IS NULL;

-- Where each Stripe event came from: the webhook, or the sweep's read of the Events API.
ALTER TABLE h2s_stripe_events ADD COLUMN IF NOT EXISTS source TEXT NOT NULL DEFAULT 'webhook';

-- The sweep's position in Stripe's event list: events created at or after `position` (unix
-- seconds, Stripe's clock) are listed by the next sweep.
CREATE TABLE IF NOT EXISTS h2s_sweep_cursors (
    name       TEXT PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Dead outbox tasks the sweep revived, for its backoff between revivals of one task.
CREATE TABLE IF NOT EXISTS h2s_task_revivals (
    task_id         TEXT PRIMARY KEY,
    revivals        INTEGER NOT NULL,
    last_revived_at TIMESTAMPTZ NOT NULL
);
