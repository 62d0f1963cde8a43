-- The outbound event feed (issue 25): signed Standard Webhooks deliveries to the dispatch
-- app, the accounting tool and the shop's automations.
--
-- An event is written in the transaction of the change that causes it, and fanned out in
-- that same transaction to one delivery row per endpoint that wants it (enabled, and its
-- `event_types` NULL or naming the type). The worker's delivery loop claims due deliveries
-- with a lease, so that a worker killed mid-delivery leaves nothing lost: the lease runs out
-- and another attempt goes with the same `webhook-id` (the event's id).

-- Where events go. `secret` is `whsec_` + base64 of 32 random bytes, shown once at creation
-- and at rotation; after a rotation the previous secret still signs until
-- `previous_secret_until` (24 h), so a receiver can change over without a gap.
CREATE TABLE IF NOT EXISTS h2s_event_endpoints (
    endpoint_id           UUID PRIMARY KEY,
    url                   TEXT NOT NULL,
    -- NULL: every event type.
    event_types           TEXT[],
    enabled               BOOLEAN NOT NULL DEFAULT true,
    -- Why it is disabled: `operator`, or `failing` (every attempt failed for 5 days).
    disabled_reason       TEXT,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TIMESTAMPTZ,
    -- The first failure of the current run of failures (NULL after any success).
    failing_since         TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Per order (one job per order), the last `sequence` given to one of its events: increased
-- under the order's row lock, which every path that changes an order or its job holds.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS event_sequence BIGINT NOT NULL DEFAULT 0;

-- What happened. `event_id` (`msg_` + 32 hex) is the `webhook-id` of every delivery of it,
-- retries and replays included; `body` is the JSON delivered, byte for byte the signed text.
CREATE TABLE IF NOT EXISTS h2s_events (
    event_id    TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    job_id      UUID,
    sequence    BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS h2s_events_order ON h2s_events (order_id, sequence);
CREATE INDEX IF NOT EXISTS h2s_events_created ON h2s_events (created_at);

-- One event to one endpoint. `pending` until a 2xx (`delivered`) or the retry schedule is
-- spent (`failed`); replay puts a row back to `pending` (same event, same `webhook-id`).
CREATE TABLE IF NOT EXISTS h2s_event_deliveries (
    delivery_id     BIGSERIAL PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES h2s_events (event_id) ON DELETE CASCADE,
    endpoint_id     UUID NOT NULL REFERENCES h2s_event_endpoints (endpoint_id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts made in the current run of the schedule (a replay starts a new run).
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set while a worker holds the delivery; a lease that ran out is free to take again.
    leased_until    TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS h2s_event_deliveries_due
    ON h2s_event_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';

-- The delivery log: every attempt, kept for the retention period.
CREATE TABLE IF NOT EXISTS h2s_delivery_attempts (
    attempt_id   BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES h2s_event_deliveries (delivery_id) ON DELETE CASCADE,
    attempt      INT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    -- The HTTP status (NULL when no answer came: refused, timed out, address refused).
    status_code  INT,
    latency_ms   INT NOT NULL,
    error        TEXT,
    replay       BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS h2s_delivery_attempts_delivery ON h2s_delivery_attempts (delivery_id);
CREATE INDEX IF NOT EXISTS h2s_delivery_attempts_started ON h2s_delivery_attempts (started_at);
