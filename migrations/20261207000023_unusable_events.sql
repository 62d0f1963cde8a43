-- Issue 23: a correctly signed Stripe event that cannot be used (a dispute without
-- `payment_intent`, say) raises an operator alert of its own. It names no order we know, so
-- an alert names an order or a Stripe event (once per event and kind).
ALTER TABLE h2s_operator_alerts ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE h2s_operator_alerts ADD COLUMN IF NOT EXISTS event_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS h2s_operator_alerts_event
    ON h2s_operator_alerts (event_id, kind) WHERE event_id IS NOT NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'h2s_operator_alerts_names_one') THEN
        ALTER TABLE h2s_operator_alerts ADD CONSTRAINT h2s_operator_alerts_names_one
            CHECK (order_id IS NOT NULL OR event_id IS NOT NULL);
    END IF;
END $$;
