-- After the money moves (issue 17): refunds, disputes, and the job put on hold meanwhile.

-- The PaymentIntent of the order's session, stored when a session event names it (a
-- completed session does): refunds and disputes name the PaymentIntent, not the session.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS stripe_payment_intent_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS h2s_orders_payment_intent
    ON h2s_orders (stripe_payment_intent_id) WHERE stripe_payment_intent_id IS NOT NULL;
-- What was refunded of the order so far (cents, the order's currency). A partial refund
-- records its amount here and changes no status; a full one makes the order `refunded`.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS amount_refunded BIGINT NOT NULL DEFAULT 0;

-- The status a job was put `on_hold` from: a dispute won gives a `scheduled` visit back.
ALTER TABLE h2s_dispatch_jobs ADD COLUMN IF NOT EXISTS held_from TEXT;

-- Every refund seen (`refund.updated`), by its id, so that the amount refunded is the sum of
-- the refunds that succeeded whatever order their events came in.
CREATE TABLE IF NOT EXISTS h2s_refunds (
    refund_id   TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES h2s_orders (order_id),
    amount      BIGINT NOT NULL,
    status      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS h2s_refunds_order ON h2s_refunds (order_id);

-- Every dispute seen, by its id: a `charge.dispute.created` that arrives after the dispute's
-- `closed` finds it closed and changes nothing.
CREATE TABLE IF NOT EXISTS h2s_disputes (
    dispute_id  TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES h2s_orders (order_id),
    status      TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    amount      BIGINT,
    reason      TEXT,
    opened_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at   TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS h2s_disputes_order ON h2s_disputes (order_id);

-- Refund and dispute events whose PaymentIntent no order has yet (the session's webhook
-- has not come): kept, and applied in the transaction that stores the PaymentIntent, before
-- the session's own event, so that a refund seen first still ends `refunded`. Applied in the
-- order they arrived (`seq`): their effects do not depend on it.
CREATE TABLE IF NOT EXISTS h2s_parked_events (
    event_id          TEXT PRIMARY KEY REFERENCES h2s_stripe_events (event_id),
    seq               BIGSERIAL NOT NULL,
    payment_intent_id TEXT NOT NULL,
    created           BIGINT NOT NULL,
    facts             JSONB NOT NULL,
    parked_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS h2s_parked_events_payment_intent
    ON h2s_parked_events (payment_intent_id);

-- What needs a human: a dispute opened, a refunded order whose job is already scheduled or
-- done (left as it is). One per order and kind; `resolved_at` once an operator dealt with it.
CREATE TABLE IF NOT EXISTS h2s_operator_alerts (
    alert_id    BIGSERIAL PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES h2s_orders (order_id),
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    UNIQUE (order_id, kind)
);
CREATE INDEX IF NOT EXISTS h2s_operator_alerts_open
    ON h2s_operator_alerts (created_at) WHERE resolved_at IS NULL;

-- The status CHECKs grow with the new statuses. Whatever the CHECK on `status` is called (an
-- adopted schema may name it otherwise), it is replaced; the new one is added NOT VALID and
-- then validated, unless rows an older system left with other statuses are there (they are
-- kept, and reported by the adoption log as before).
DO $$
DECLARE
    c record;
    k record;
BEGIN
    FOR c IN
        SELECT * FROM (VALUES
            ('h2s_orders', ARRAY['pending_payment', 'awaiting_payment', 'paid', 'payment_failed',
                                 'expired', 'failed', 'refunded', 'disputed', 'dispute_lost']),
            ('h2s_dispatch_jobs', ARRAY['awaiting_payment', 'ready', 'scheduled', 'completed',
                                        'cancelled', 'on_hold'])
        ) AS s(tbl, statuses)
    LOOP
        FOR k IN
            SELECT con.conname
            FROM pg_constraint con
            JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
            WHERE con.conrelid = to_regclass(c.tbl) AND con.contype = 'c'
              AND cardinality(con.conkey) = 1 AND a.attname = 'status'
        LOOP
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', c.tbl, k.conname);
        END LOOP;
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (status IN (%s)) NOT VALID',
                       c.tbl, c.tbl || '_status_check',
                       (SELECT string_agg(quote_literal(s), ', ') FROM unnest(c.statuses) s));
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', c.tbl, c.tbl || '_status_check');
        EXCEPTION WHEN check_violation THEN
            NULL; -- old rows outside the set: kept, the CHECK holds for every row written now
        END;
    END LOOP;
END
$$;

-- The invariant's second half (`invariant::VIOLATIONS_SQL`) reads jobs not ready whose order
-- is paid: a job still `on_hold` after its dispute was won is one of them.
DROP INDEX IF EXISTS h2s_dispatch_jobs_not_ready;
CREATE INDEX h2s_dispatch_jobs_not_ready
    ON h2s_dispatch_jobs (order_id)
    WHERE status IN ('awaiting_payment', 'cancelled', 'on_hold');
