-- Operator refunds and dispatch actions (issue 26).

-- A refund an operator asked for: written in one transaction with its outbox task, carried
-- out by the worker. Its id is the Stripe `Idempotency-Key` of `POST /v1/refunds` and the
-- refund's `metadata[h2s_refund_request]`, so every retry, from any process, replays the one
-- refund, and the events that come back are recognised as this request's own.
CREATE TABLE IF NOT EXISTS h2s_refund_requests (
    refund_request_id   UUID PRIMARY KEY,
    order_id            TEXT NOT NULL REFERENCES h2s_orders (order_id),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    reason              TEXT NOT NULL,
    cancel_job          BOOLEAN NOT NULL DEFAULT false,
    override_dispatched BOOLEAN NOT NULL DEFAULT false,
    status              TEXT NOT NULL DEFAULT 'requested'
                        CHECK (status IN ('requested', 'succeeded', 'failed')),
    -- Stripe's refund, once known (the worker's answer or the refund's event).
    stripe_refund_id    TEXT UNIQUE,
    -- Why Stripe refused (`charge_already_refunded: ...`) or the refund failed.
    failure_reason      TEXT,
    -- The operator's `Idempotency-Key` and the fingerprint of the body it came with.
    idempotency_key     TEXT UNIQUE,
    request_hash        TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at          TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS h2s_refund_requests_order ON h2s_refund_requests (order_id);
-- The amount in flight, read under the order's lock by every new request.
CREATE INDEX IF NOT EXISTS h2s_refund_requests_in_flight
    ON h2s_refund_requests (order_id) WHERE status = 'requested';

-- What the dispatcher set: the visit's window and technician, and why a job was cancelled
-- by an operator (such a job stays cancelled: no payment event revives it).
ALTER TABLE h2s_dispatch_jobs ADD COLUMN IF NOT EXISTS window_start TIMESTAMPTZ;
ALTER TABLE h2s_dispatch_jobs ADD COLUMN IF NOT EXISTS window_end TIMESTAMPTZ;
ALTER TABLE h2s_dispatch_jobs ADD COLUMN IF NOT EXISTS technician TEXT;
ALTER TABLE h2s_dispatch_jobs ADD COLUMN IF NOT EXISTS cancel_reason TEXT;

-- Every move of a job made by the one job transition function: the timeline's source.
CREATE TABLE IF NOT EXISTS h2s_job_moves (
    move_id     BIGSERIAL PRIMARY KEY,
    job_id      UUID NOT NULL REFERENCES h2s_dispatch_jobs (job_id),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    cause       TEXT NOT NULL,
    detail      TEXT,
    moved_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS h2s_job_moves_job ON h2s_job_moves (job_id, moved_at);
