-- Issue 25, delivery: what the delivery loop needs beyond the shared schema.

-- How many times an operator replayed the delivery (the attempts of a replayed run are
-- marked `replay` in the log).
ALTER TABLE h2s_event_deliveries ADD COLUMN IF NOT EXISTS replays INT NOT NULL DEFAULT 0;

-- The deliveries in flight (or held by a worker that died, until the lease runs out): what
-- the per-endpoint cap counts, without reading an endpoint's whole backlog.
CREATE INDEX IF NOT EXISTS h2s_event_deliveries_leased
    ON h2s_event_deliveries (endpoint_id, leased_until)
    WHERE status = 'pending' AND leased_until IS NOT NULL;

-- The failing deliveries the console lists.
CREATE INDEX IF NOT EXISTS h2s_event_deliveries_failed
    ON h2s_event_deliveries (endpoint_id, created_at) WHERE status = 'failed';

-- An operator alert may be about an event endpoint (one that failed for 5 days and was
-- disabled): one open alert per endpoint and kind.
ALTER TABLE h2s_operator_alerts ADD COLUMN IF NOT EXISTS endpoint_id UUID;
CREATE UNIQUE INDEX IF NOT EXISTS h2s_operator_alerts_endpoint
    ON h2s_operator_alerts (endpoint_id, kind) WHERE endpoint_id IS NOT NULL;
ALTER TABLE h2s_operator_alerts DROP CONSTRAINT IF EXISTS h2s_operator_alerts_names_one;
ALTER TABLE h2s_operator_alerts ADD CONSTRAINT h2s_operator_alerts_names_one
    CHECK (order_id IS NOT NULL OR event_id IS NOT NULL OR endpoint_id IS NOT NULL);

-- When the next delivery falls due: what the loop sleeps until.
CREATE INDEX IF NOT EXISTS h2s_event_deliveries_next
    ON h2s_event_deliveries (next_attempt_at) WHERE status = 'pending';

-- An endpoint's last success (the console's health).
CREATE INDEX IF NOT EXISTS h2s_event_deliveries_delivered
    ON h2s_event_deliveries (endpoint_id, delivered_at) WHERE status = 'delivered';
