-- Adopting a database of the old backend in place, part 2 of 2: today's constraints on old
-- tables, and the job link backfilled both ways (part 1 is 20261127000000_adopt_old_schema.sql).
--
-- The core migration's CREATE TABLE IF NOT EXISTS skipped the old tables, so their NOT NULLs,
-- CHECKs, UNIQUE (order_id) and foreign keys are added here, in a way old data cannot stop:
--   - a constraint old rows break is added NOT VALID (new rows must satisfy it, old ones are
--     kept as they are and reported); every start tries to validate it again, so it becomes
--     valid once the data is clean (src/migrate/);
--   - NOT NULL is set where no old row is NULL; a column with NULLs, or one the old backend
--     never had, stays nullable (the old backend may still be writing rows during the switch);
--   - an old CHECK on a status that refuses today's statuses is replaced (its definition kept
--     in the log);
--   - an old NOT NULL column this system does not know is made nullable, or its inserts would
--     fail;
--   - two jobs for one order stop the migration: UNIQUE (order_id) is what makes
--     `dispatch::ensure_job` link an old job instead of creating a second one, and which of
--     two real jobs to keep is an operator's decision.
-- Backfills: `dispatch_job_id` from `metadata_json->>'dispatch_job_id'` where that job exists
-- for that order, and `metadata_json.dispatch_job_id` from the column.
-- On a database this system created, every step finds nothing to do.

CREATE OR REPLACE FUNCTION pg_temp.h2s_has_unique(tbl TEXT, col TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = to_regclass(tbl) AND i.indisunique AND i.indpred IS NULL
          AND i.indnkeyatts = 1 AND a.attname = col
    )
$$;

-- Whether `tbl` has a foreign key on exactly `col` to `target`.
CREATE OR REPLACE FUNCTION pg_temp.h2s_has_fk(tbl TEXT, col TEXT, target TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_constraint k
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
        WHERE k.conrelid = to_regclass(tbl) AND k.contype = 'f'
          AND k.confrelid = to_regclass(target) AND cardinality(k.conkey) = 1
          AND a.attname = col
    )
$$;

DO $adopt$
DECLARE
    c       RECORD;
    n       BIGINT;
    detail  JSONB;
    added   BOOLEAN;
    known   TEXT[];
    missing TEXT[];
BEGIN
    -- 1. Timestamps no old row may lack: the reconciler pages by (created_at, order_id) and
    --    the status endpoint shows created_at. A NULL takes the row's other timestamp, or now.
    FOR c IN
        SELECT * FROM (VALUES
            ('h2s_recipients', 'created_at', 'updated_at', 'recipient_id'),
            ('h2s_recipients', 'updated_at', 'created_at', 'recipient_id'),
            ('h2s_orders', 'created_at', 'updated_at', 'order_id'),
            ('h2s_orders', 'updated_at', 'created_at', 'order_id'),
            ('h2s_dispatch_jobs', 'created_at', 'updated_at', 'job_id'),
            ('h2s_dispatch_jobs', 'updated_at', 'created_at', 'job_id')
        ) AS s(tbl, col, other, id)
    LOOP
        EXECUTE format('SELECT count(*), jsonb_agg(%I ORDER BY %I) FROM %I WHERE %I IS NULL',
                       c.id, c.id, c.tbl, c.col)
            INTO n, detail;
        CONTINUE WHEN n = 0;
        EXECUTE format('UPDATE %I SET %I = COALESCE(%I, now()) WHERE %I IS NULL',
                       c.tbl, c.col, c.other, c.col);
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('fill', c.tbl, n,
                format('%s rows had no %s: set to their %s, or the time of adoption', n, c.col,
                       c.other),
                detail);
    END LOOP;

    -- 2. Old NOT NULL columns this system does not write would make its inserts fail.
    FOR c IN
        SELECT t.tbl, a.attname AS col
        FROM (VALUES ('h2s_recipients'), ('h2s_orders'), ('h2s_dispatch_jobs')) AS t(tbl)
        JOIN pg_attribute a ON a.attrelid = to_regclass(t.tbl)
        WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND NOT a.atthasdef
          AND a.attname NOT IN (
              'recipient_id', 'email', 'name', 'phone', 'created_at', 'updated_at',
              'order_id', 'status', 'dispatch_job_id', 'stripe_session_id',
              'stripe_session_url', 'customer_email', 'customer_name', 'customer_phone',
              'customer_phone_e164', 'cart_json', 'metadata_json', 'success_url', 'cancel_url',
              'amount_total', 'currency', 'checkout_trace_id', 'failure_reason',
              'idempotency_key', 'request_hash', 'paid_at', 'job_id', 'service_address')
          AND NOT EXISTS (SELECT 1 FROM pg_index i
                          WHERE i.indrelid = a.attrelid AND i.indisprimary
                            AND a.attnum = ANY (i.indkey))
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP NOT NULL', c.tbl, c.col);
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('relax', c.tbl, 0,
                format('old column %s.%s is NOT NULL with no default, and this system does '
                       'not write it: made nullable (its values are kept)', c.tbl, c.col),
                jsonb_build_array(c.col));
    END LOOP;

    -- 3. Today's NOT NULLs, where the old data allows and the old backend writes the column.
    FOR c IN
        SELECT * FROM (VALUES
            ('h2s_recipients', 'email'), ('h2s_recipients', 'created_at'),
            ('h2s_recipients', 'updated_at'),
            ('h2s_orders', 'order_id'), ('h2s_orders', 'status'),
            ('h2s_orders', 'customer_email'), ('h2s_orders', 'cart_json'),
            ('h2s_orders', 'metadata_json'), ('h2s_orders', 'created_at'),
            ('h2s_orders', 'updated_at'),
            ('h2s_dispatch_jobs', 'order_id'), ('h2s_dispatch_jobs', 'recipient_id'),
            ('h2s_dispatch_jobs', 'status'), ('h2s_dispatch_jobs', 'created_at'),
            ('h2s_dispatch_jobs', 'updated_at')
        ) AS s(tbl, col)
    LOOP
        CONTINUE WHEN (SELECT attnotnull FROM pg_attribute
                       WHERE attrelid = to_regclass(c.tbl) AND attname = c.col);
        -- Added by adoption with no default: the old backend never writes it, and may still
        -- be inserting rows during the switch.
        added := EXISTS (
            SELECT 1 FROM h2s_adoption_log l
            WHERE l.action = 'add_column' AND l.table_name = c.tbl AND l.detail ? c.col
        ) AND NOT EXISTS (
            SELECT 1 FROM pg_attribute a
            WHERE a.attrelid = to_regclass(c.tbl) AND a.attname = c.col AND a.atthasdef
        );
        EXECUTE format('SELECT count(*) FROM %I WHERE %I IS NULL', c.tbl, c.col) INTO n;
        IF n = 0 AND NOT added THEN
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET NOT NULL', c.tbl, c.col);
        ELSE
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('not_enforced', c.tbl, n,
                    CASE WHEN added
                        THEN format('%s.%s left nullable: the old backend has no such column '
                                    '(%s rows without it)', c.tbl, c.col, n)
                        ELSE format('%s.%s left nullable: %s old rows have none (set NOT NULL '
                                    'once they are filled in)', c.tbl, c.col, n)
                    END,
                    jsonb_build_array(c.col));
        END IF;
    END LOOP;

    -- 4. Status CHECKs. An old CHECK that refuses one of today's statuses is replaced; today's
    --    is added NOT VALID, so that old values outside the set are kept and reported.
    FOR c IN
        SELECT * FROM (VALUES
            ('h2s_orders', 'order_id', ARRAY['pending_payment', 'awaiting_payment', 'paid',
                                             'payment_failed', 'expired', 'failed']),
            ('h2s_dispatch_jobs', 'job_id', ARRAY['awaiting_payment', 'ready', 'scheduled',
                                                  'completed', 'cancelled'])
        ) AS s(tbl, id, statuses)
    LOOP
        FOR known IN
            SELECT ARRAY[k.conname::text, pg_get_constraintdef(k.oid)]
            FROM pg_constraint k
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
            WHERE k.conrelid = to_regclass(c.tbl) AND k.contype = 'c'
              AND cardinality(k.conkey) = 1 AND a.attname = 'status'
        LOOP
            SELECT array_agg(s) INTO missing
            FROM unnest(c.statuses) s
            WHERE position(quote_literal(s) IN known[2]) = 0;
            CONTINUE WHEN missing IS NULL;
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', c.tbl, known[1]);
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('replace', c.tbl, 0,
                    format('old constraint %s (%s) refuses today''s statuses %s: dropped, '
                           'today''s status CHECK takes its place', known[1], known[2],
                           array_to_string(missing, ', ')),
                    jsonb_build_object('constraint', known[1], 'definition', known[2]));
        END LOOP;
        IF NOT EXISTS (
            SELECT 1 FROM pg_constraint k
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
            WHERE k.conrelid = to_regclass(c.tbl) AND k.contype = 'c'
              AND cardinality(k.conkey) = 1 AND a.attname = 'status'
        ) THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (status IN (%s)) NOT VALID',
                           c.tbl, c.tbl || '_status_check',
                           (SELECT string_agg(quote_literal(s), ', ') FROM unnest(c.statuses) s));
        END IF;
        EXECUTE format(
            'SELECT COALESCE(sum(n), 0), jsonb_agg(jsonb_build_object(''status'', status, '
            '''rows'', n, ''ids'', ids) ORDER BY status) '
            'FROM (SELECT status, count(*) AS n, '
            '             to_jsonb((array_agg(%I ORDER BY %I))[1:100]) AS ids '
            '      FROM %I WHERE status <> ALL ($1) GROUP BY status) v',
            c.id, c.id, c.tbl)
            INTO n, detail USING c.statuses;
        IF n > 0 THEN
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('unknown_value', c.tbl, n,
                    format('%s rows have a status outside today''s set (%s): kept as they are, '
                           'shown as they are, left to the reconciler''s report; the status '
                           'CHECK stays NOT VALID until they are resolved', n,
                           (SELECT string_agg(d->>'status', ', ') FROM jsonb_array_elements(detail) d)),
                    detail);
        END IF;
    END LOOP;

    -- 5. The other CHECKs of today's tables (NOT VALID where old rows break them).
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('h2s_recipients')
                   AND conname = 'h2s_recipients_email_check') THEN
        ALTER TABLE h2s_recipients
            ADD CONSTRAINT h2s_recipients_email_check CHECK (email <> '') NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('h2s_orders')
                   AND conname = 'h2s_orders_order_id_check') THEN
        ALTER TABLE h2s_orders
            ADD CONSTRAINT h2s_orders_order_id_check CHECK (order_id <> '') NOT VALID;
    END IF;

    -- 6. Exactly one job per order.
    IF NOT pg_temp.h2s_has_unique('h2s_dispatch_jobs', 'order_id') THEN
        SELECT count(*), jsonb_agg(order_id ORDER BY order_id)
        INTO n, detail
        FROM (SELECT order_id FROM h2s_dispatch_jobs
              WHERE order_id IS NOT NULL GROUP BY order_id HAVING count(*) > 1) d;
        IF n > 0 THEN
            RAISE EXCEPTION 'cannot adopt h2s_dispatch_jobs: % orders have more than one dispatch job: %',
                n, (SELECT string_agg(x, ', ') FROM (
                        SELECT jsonb_array_elements_text(detail) x LIMIT 20) y)
                USING HINT = 'Keep one job per order (the one the order names in '
                          || 'dispatch_job_id or metadata_json.dispatch_job_id), '
                          || 'then migrate again. Nothing was changed.';
        END IF;
        ALTER TABLE h2s_dispatch_jobs
            ADD CONSTRAINT h2s_dispatch_jobs_order_id_key UNIQUE (order_id);
    END IF;

    -- 7. One order per Stripe session (the webhook finds an order by its session).
    IF NOT pg_temp.h2s_has_unique('h2s_orders', 'stripe_session_id') THEN
        SELECT count(*), jsonb_agg(jsonb_build_object('stripe_session_id', stripe_session_id,
                                                      'order_ids', ids))
        INTO n, detail
        FROM (SELECT stripe_session_id, jsonb_agg(order_id ORDER BY order_id) AS ids
              FROM h2s_orders WHERE stripe_session_id IS NOT NULL
              GROUP BY stripe_session_id HAVING count(*) > 1) d;
        IF n = 0 THEN
            ALTER TABLE h2s_orders
                ADD CONSTRAINT h2s_orders_stripe_session_id_key UNIQUE (stripe_session_id);
        ELSE
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('not_enforced', 'h2s_orders', n,
                    format('%s Stripe sessions are named by more than one order: no unique '
                           'index on stripe_session_id until they are resolved', n),
                    detail);
        END IF;
    END IF;

    -- 8. Foreign keys of jobs (NOT VALID: an old job may name an order or recipient that is
    --    gone; it is kept, and the constraint validated once that is resolved).
    IF NOT pg_temp.h2s_has_fk('h2s_dispatch_jobs', 'order_id', 'h2s_orders') THEN
        ALTER TABLE h2s_dispatch_jobs ADD CONSTRAINT h2s_dispatch_jobs_order_id_fkey
            FOREIGN KEY (order_id) REFERENCES h2s_orders (order_id) NOT VALID;
    END IF;
    IF NOT pg_temp.h2s_has_fk('h2s_dispatch_jobs', 'recipient_id', 'h2s_recipients') THEN
        ALTER TABLE h2s_dispatch_jobs ADD CONSTRAINT h2s_dispatch_jobs_recipient_id_fkey
            FOREIGN KEY (recipient_id) REFERENCES h2s_recipients (recipient_id) NOT VALID;
    END IF;

    -- 9. The job link, both ways. First the column from the metadata, where the job it names
    --    exists and belongs to the order.
    WITH linked AS (
        UPDATE h2s_orders o SET dispatch_job_id = j.job_id
        FROM h2s_dispatch_jobs j
        WHERE o.dispatch_job_id IS NULL
          AND jsonb_typeof(o.metadata_json -> 'dispatch_job_id') = 'string'
          AND j.job_id::text = lower(o.metadata_json ->> 'dispatch_job_id')
          AND j.order_id = o.order_id
        RETURNING o.order_id
    )
    SELECT count(*), jsonb_agg(order_id ORDER BY order_id) INTO n, detail FROM linked;
    IF n > 0 THEN
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('backfill', 'h2s_orders', n,
                format('dispatch_job_id set from metadata_json.dispatch_job_id on %s orders', n),
                detail);
    END IF;

    -- Metadata links that name no job of the order: kept as they are, reported.
    SELECT count(*), jsonb_agg(jsonb_build_object('order_id', o.order_id,
                                                  'metadata_job_id', o.metadata_json -> 'dispatch_job_id',
                                                  'dispatch_job_id', o.dispatch_job_id)
                               ORDER BY o.order_id)
    INTO n, detail
    FROM h2s_orders o
    WHERE o.metadata_json ? 'dispatch_job_id'
      AND o.dispatch_job_id IS NULL;
    IF n > 0 THEN
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('notice', 'h2s_orders', n,
                format('%s orders have a metadata_json.dispatch_job_id that names no job of '
                       'theirs: kept; the reconciler links a paid one to its job (an existing '
                       'one for the order, or a new one)', n),
                detail);
    END IF;

    -- Then the metadata from the column (the column is the source of truth; a different old
    -- value is kept in the log).
    WITH before AS (
        SELECT order_id, metadata_json -> 'dispatch_job_id' AS old
        FROM h2s_orders
        WHERE dispatch_job_id IS NOT NULL
          AND (metadata_json IS NULL OR jsonb_typeof(metadata_json) = 'object')
          AND metadata_json ->> 'dispatch_job_id' IS DISTINCT FROM dispatch_job_id::text
    ), linked AS (
        UPDATE h2s_orders o
        SET metadata_json = jsonb_set(COALESCE(o.metadata_json, '{}'::jsonb),
                                      '{dispatch_job_id}', to_jsonb(o.dispatch_job_id::text))
        FROM before b
        WHERE o.order_id = b.order_id
        RETURNING o.order_id, b.old
    )
    SELECT count(*),
           jsonb_agg(CASE WHEN old IS NULL THEN to_jsonb(order_id)
                          ELSE jsonb_build_object('order_id', order_id, 'was', old) END
                     ORDER BY order_id)
    INTO n, detail FROM linked;
    IF n > 0 THEN
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('backfill', 'h2s_orders', n,
                format('metadata_json.dispatch_job_id set from dispatch_job_id on %s orders', n),
                detail);
    END IF;

    SELECT count(*), jsonb_agg(order_id ORDER BY order_id) INTO n, detail
    FROM h2s_orders
    WHERE dispatch_job_id IS NOT NULL AND metadata_json IS NOT NULL
      AND jsonb_typeof(metadata_json) <> 'object';
    IF n > 0 THEN
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('notice', 'h2s_orders', n,
                format('%s orders have a metadata_json that is not an object: the job link '
                       'could not be written there', n),
                detail);
    END IF;

    -- 10. Links that name another order's job, and paid orders still without a job.
    SELECT count(*), jsonb_agg(jsonb_build_object('order_id', o.order_id,
                                                  'dispatch_job_id', o.dispatch_job_id,
                                                  'job_order_id', j.order_id)
                               ORDER BY o.order_id)
    INTO n, detail
    FROM h2s_orders o JOIN h2s_dispatch_jobs j ON j.job_id = o.dispatch_job_id
    WHERE j.order_id IS DISTINCT FROM o.order_id;
    IF n > 0 THEN
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('notice', 'h2s_orders', n,
                format('%s orders are linked to a job of another order: kept as they are, '
                       'for an operator to resolve', n),
                detail);
    END IF;
    SELECT count(*), jsonb_agg(order_id ORDER BY order_id) INTO n, detail
    FROM h2s_orders WHERE status = 'paid' AND dispatch_job_id IS NULL;
    IF n > 0 THEN
        INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
        VALUES ('notice', 'h2s_orders', n,
                format('%s paid orders have no linked job: the reconciler''s first sweep '
                       'links the order''s existing job or creates one', n),
                detail);
    END IF;
END
$adopt$;

DROP FUNCTION pg_temp.h2s_has_unique(TEXT, TEXT);
DROP FUNCTION pg_temp.h2s_has_fk(TEXT, TEXT, TEXT);
