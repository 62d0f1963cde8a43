-- Core tables of h2s-dispatch. Names are kept from the old system so that existing reports
-- and the admin portal keep working. The invariants live here as well as in the code.

CREATE TABLE IF NOT EXISTS h2s_recipients (
    recipient_id UUID PRIMARY KEY,
    email        TEXT NOT NULL CHECK (email <> ''),
    name         TEXT,
    phone        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One recipient per customer email, case-insensitive.
CREATE UNIQUE INDEX IF NOT EXISTS h2s_recipients_email_ci ON h2s_recipients (lower(email));

CREATE TABLE IF NOT EXISTS h2s_orders (
    order_id           TEXT PRIMARY KEY CHECK (order_id <> ''),
    status             TEXT NOT NULL CHECK (status IN (
                           'pending_payment', 'awaiting_payment', 'paid',
                           'payment_failed', 'expired', 'failed')),
    dispatch_job_id    UUID,
    stripe_session_id  TEXT UNIQUE,
    stripe_session_url TEXT,
    customer_email     TEXT NOT NULL,
    customer_name      TEXT,
    customer_phone     TEXT,
    cart_json          JSONB NOT NULL DEFAULT '[]'::jsonb,
    metadata_json      JSONB NOT NULL DEFAULT '{}'::jsonb,
    success_url        TEXT,
    cancel_url         TEXT,
    amount_total       BIGINT,
    currency           TEXT,
    checkout_trace_id  UUID,
    failure_reason     TEXT,
    idempotency_key    TEXT,
    request_hash       TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    paid_at            TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS h2s_orders_idempotency_key
    ON h2s_orders (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS h2s_dispatch_jobs (
    job_id          UUID PRIMARY KEY,
    -- Exactly one dispatch job per order.
    order_id        TEXT NOT NULL UNIQUE REFERENCES h2s_orders (order_id),
    recipient_id    UUID NOT NULL REFERENCES h2s_recipients (recipient_id),
    status          TEXT NOT NULL CHECK (status IN (
                        'awaiting_payment', 'ready', 'scheduled', 'completed', 'cancelled')),
    service_address TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS h2s_dispatch_jobs_status ON h2s_dispatch_jobs (status, created_at);

ALTER TABLE h2s_orders
    ADD CONSTRAINT h2s_orders_dispatch_job_fk
    FOREIGN KEY (dispatch_job_id) REFERENCES h2s_dispatch_jobs (job_id);

-- Stripe events, each recorded once, in the transaction that applies it.
CREATE TABLE IF NOT EXISTS h2s_stripe_events (
    event_id    TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    order_id    TEXT,
    outcome     TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Partial indexes for the reconciler: its cost follows what it repairs, not the table size.
CREATE INDEX IF NOT EXISTS h2s_orders_paid_without_job
    ON h2s_orders (created_at) WHERE status = 'paid' AND dispatch_job_id IS NULL;
CREATE INDEX IF NOT EXISTS h2s_orders_unpaid
    ON h2s_orders (created_at) WHERE status IN ('pending_payment', 'awaiting_payment');
CREATE INDEX IF NOT EXISTS h2s_orders_status_created ON h2s_orders (status, created_at);
