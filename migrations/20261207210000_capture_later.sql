-- Pay after the visit (issue 34): an order may be paid by a hold (manual capture), captured
-- when its job is completed, released when it is cancelled, or left to lapse.

-- How the order's payment is taken: `automatic` (as every order before) or `manual` (a hold).
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS capture_method TEXT NOT NULL DEFAULT 'automatic'
    CHECK (capture_method IN ('automatic', 'manual'));
-- The hold: the amount capturable, when it was authorized, and when it lapses (the charge's
-- `payment_method_details.card.capture_before`, or the authorization time plus 7 days until
-- the charge says: `capture_before_exact`).
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS amount_capturable BIGINT;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS authorized_at TIMESTAMPTZ;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS capture_before TIMESTAMPTZ;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS capture_before_exact BOOLEAN NOT NULL DEFAULT false;
-- The capture the job's completion asked for (its amount: at most the hold), and what Stripe
-- captured. One capture per payment attempt: its Stripe idempotency key is derived from the
-- order and `pay_attempt`.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS capture_requested_amount BIGINT;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS capture_requested_at TIMESTAMPTZ;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS amount_captured BIGINT;
-- A release (the job cancelled, or the order refunded before a capture) asked for.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS release_requested_at TIMESTAMPTZ;
-- When the sweep warned that the hold nears its end (once per order and attempt).
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS authorization_warned_at TIMESTAMPTZ;
-- The payment attempt: 0 for the checkout's session, then one more per new payment link of a
-- lapsed hold (each with its own Checkout Session idempotency key), and when it was asked.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS pay_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS pay_link_requested_at TIMESTAMPTZ;

-- The status CHECK grows with the hold's statuses (as in 20261206000001_after_payment.sql).
DO $$
DECLARE
    k record;
BEGIN
    FOR k IN
        SELECT con.conname
        FROM pg_constraint con
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
        WHERE con.conrelid = to_regclass('h2s_orders') AND con.contype = 'c'
          AND cardinality(con.conkey) = 1 AND a.attname = 'status'
    LOOP
        EXECUTE format('ALTER TABLE h2s_orders DROP CONSTRAINT %I', k.conname);
    END LOOP;
    ALTER TABLE h2s_orders ADD CONSTRAINT h2s_orders_status_check CHECK (status IN (
        'pending_payment', 'awaiting_payment', 'paid', 'payment_failed', 'expired', 'failed',
        'refunded', 'disputed', 'dispute_lost', 'authorized', 'released',
        'authorization_expired')) NOT VALID;
    BEGIN
        ALTER TABLE h2s_orders VALIDATE CONSTRAINT h2s_orders_status_check;
    EXCEPTION WHEN check_violation THEN
        NULL; -- old rows outside the set: kept, the CHECK holds for every row written now
    END;
END
$$;

-- The invariant extends to holds: an `authorized` order has its one job, linked both ways,
-- as a `paid` one does (`invariant::VIOLATIONS_SQL`).
DROP INDEX IF EXISTS h2s_orders_paid_unlinked;
CREATE INDEX h2s_orders_paid_unlinked
    ON h2s_orders (created_at, order_id)
    WHERE status IN ('paid', 'authorized')
      AND (dispatch_job_id::text = (metadata_json->>'dispatch_job_id')) IS NOT TRUE;

-- The sweep's watch on holds: authorized orders by the end of their hold.
CREATE INDEX IF NOT EXISTS h2s_orders_holds
    ON h2s_orders (capture_before) WHERE status = 'authorized';
