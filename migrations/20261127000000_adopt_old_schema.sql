-- Adopting a database of the old backend in place, part 1 of 2: what the core migration needs.
--
-- The old backend left tables under today's names (h2s_orders, h2s_dispatch_jobs,
-- h2s_recipients) holding only some of today's columns. The core migration creates its tables
-- with CREATE TABLE IF NOT EXISTS, which skips a table that exists, and then builds indexes and
-- a foreign key that need columns and data an old table may lack. This migration sorts before
-- it and brings old tables to where it applies, without losing a row:
--   - a table that cannot be adopted (a key column missing, a column of another type) stops
--     the migration with a message naming it;
--   - missing columns are added (nullable, with today's defaults), defaults set where missing;
--   - a key column with no unique index gets its primary key;
--   - recipients whose emails differ only in letter case are merged into the earliest one,
--     their jobs repointed, the merged rows kept whole in h2s_recipients_merged;
--   - an order linked to a job that does not exist loses that link (kept in the log), so that
--     the core migration's foreign key holds; the reconciler gives a paid one its job.
-- Part 2 (20261127000003_adopt_constraints.sql) adds the constraints and backfills that need
-- the core tables.
--
-- On a fresh database, or one this system created, every step finds nothing to do. Whatever
-- it changes in data is recorded in h2s_adoption_log, and `api --migrate-check` prints it.
-- All pending migrations run in one transaction (src/migrate/): a failure anywhere leaves
-- the database exactly as it was.

-- What adoption changed in data, step by step (read by `api --migrate-check` and the startup
-- log; kept as the record of the move).
CREATE TABLE IF NOT EXISTS h2s_adoption_log (
    id         BIGSERIAL PRIMARY KEY,
    logged_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- add_column | merge | unlink | fill | relax | replace | not_enforced | backfill |
    -- unknown_value | notice
    action     TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_count  BIGINT NOT NULL,
    message    TEXT NOT NULL,
    detail     JSONB NOT NULL DEFAULT '[]'::jsonb
);

-- Recipients merged away by adoption, each kept whole as it was.
CREATE TABLE IF NOT EXISTS h2s_recipients_merged (
    recipient_id UUID PRIMARY KEY,
    merged_into  UUID NOT NULL,
    original     JSONB NOT NULL,
    merged_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The type of `tbl.col` as format_type spells it; NULL when the table or column is missing.
CREATE OR REPLACE FUNCTION pg_temp.h2s_column_type(tbl TEXT, col TEXT) RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a
    WHERE a.attrelid = to_regclass(tbl) AND a.attname = col AND a.attnum > 0
      AND NOT a.attisdropped
$$;

-- Whether `tbl` has a unique, non-partial index on exactly `col` (what a foreign key and
-- ON CONFLICT (col) need).
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

DO $adopt$
DECLARE
    c         RECORD;
    have      TEXT;
    ok        BOOLEAN;
    n         BIGINT;
    detail    JSONB;
BEGIN
    -- 1. Every column of today's three tables: checked if present, added if missing.
    --    `need` marks the columns an old table must already have to be adopted at all.
    FOR c IN
        SELECT * FROM (VALUES
            ('h2s_recipients', 'recipient_id', 'UUID', NULL, TRUE),
            ('h2s_recipients', 'email', 'TEXT', NULL, TRUE),
            ('h2s_recipients', 'name', 'TEXT', NULL, FALSE),
            ('h2s_recipients', 'phone', 'TEXT', NULL, FALSE),
            ('h2s_recipients', 'created_at', 'TIMESTAMPTZ', 'now()', FALSE),
            ('h2s_recipients', 'updated_at', 'TIMESTAMPTZ', 'now()', FALSE),
            ('h2s_orders', 'order_id', 'TEXT', NULL, TRUE),
            ('h2s_orders', 'status', 'TEXT', NULL, TRUE),
            ('h2s_orders', 'dispatch_job_id', 'UUID', NULL, FALSE),
            ('h2s_orders', 'stripe_session_id', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'stripe_session_url', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'customer_email', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'customer_name', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'customer_phone', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'cart_json', 'JSONB', '''[]''::jsonb', FALSE),
            ('h2s_orders', 'metadata_json', 'JSONB', '''{}''::jsonb', FALSE),
            ('h2s_orders', 'success_url', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'cancel_url', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'amount_total', 'BIGINT', NULL, FALSE),
            ('h2s_orders', 'currency', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'checkout_trace_id', 'UUID', NULL, FALSE),
            ('h2s_orders', 'failure_reason', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'idempotency_key', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'request_hash', 'TEXT', NULL, FALSE),
            ('h2s_orders', 'created_at', 'TIMESTAMPTZ', 'now()', FALSE),
            ('h2s_orders', 'updated_at', 'TIMESTAMPTZ', 'now()', FALSE),
            ('h2s_orders', 'paid_at', 'TIMESTAMPTZ', NULL, FALSE),
            ('h2s_dispatch_jobs', 'job_id', 'UUID', NULL, TRUE),
            ('h2s_dispatch_jobs', 'order_id', 'TEXT', NULL, TRUE),
            ('h2s_dispatch_jobs', 'recipient_id', 'UUID', NULL, FALSE),
            ('h2s_dispatch_jobs', 'status', 'TEXT', NULL, FALSE),
            ('h2s_dispatch_jobs', 'service_address', 'TEXT', NULL, FALSE),
            ('h2s_dispatch_jobs', 'created_at', 'TIMESTAMPTZ', 'now()', FALSE),
            ('h2s_dispatch_jobs', 'updated_at', 'TIMESTAMPTZ', 'now()', FALSE)
        ) AS s(tbl, col, typ, dflt, need)
    LOOP
        CONTINUE WHEN to_regclass(c.tbl) IS NULL;
        have := pg_temp.h2s_column_type(c.tbl, c.col);
        IF have IS NULL THEN
            IF c.need THEN
                RAISE EXCEPTION 'cannot adopt the existing table %: it has no column % (%)',
                    c.tbl, c.col, c.typ;
            END IF;
            EXECUTE format('ALTER TABLE %I ADD COLUMN %I %s', c.tbl, c.col, c.typ)
                || COALESCE(' DEFAULT ' || c.dflt, '');
            -- Recorded: part 2 leaves a column the old backend never wrote nullable.
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('add_column', c.tbl, 0,
                    format('column %s.%s added (%s%s)', c.tbl, c.col, c.typ,
                           COALESCE(' DEFAULT ' || c.dflt, '')),
                    jsonb_build_array(c.col));
            CONTINUE;
        END IF;
        ok := CASE c.typ
            WHEN 'TEXT' THEN have = 'text' OR have LIKE 'character varying%'
            WHEN 'UUID' THEN have = 'uuid'
            WHEN 'JSONB' THEN have = 'jsonb'
            WHEN 'TIMESTAMPTZ' THEN have = 'timestamp with time zone'
            WHEN 'BIGINT' THEN have IN ('bigint', 'integer')
        END;
        IF NOT ok THEN
            RAISE EXCEPTION 'cannot adopt %.%: it is %, this system needs %', c.tbl, c.col, have, c.typ
                USING HINT = 'Convert the column first (ALTER TABLE ... ALTER COLUMN ... TYPE ... '
                          || 'USING ...), choosing how its values convert, then migrate again.';
        END IF;
        IF c.dflt IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_attrdef d JOIN pg_attribute a
                ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            WHERE d.adrelid = to_regclass(c.tbl) AND a.attname = c.col
        ) THEN
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT %s', c.tbl, c.col, c.dflt);
        END IF;
    END LOOP;

    -- 2. Keys: foreign keys and ON CONFLICT need a unique index on each table's key.
    FOR c IN
        SELECT * FROM (VALUES
            ('h2s_recipients', 'recipient_id'),
            ('h2s_orders', 'order_id'),
            ('h2s_dispatch_jobs', 'job_id')
        ) AS s(tbl, col)
    LOOP
        CONTINUE WHEN to_regclass(c.tbl) IS NULL OR pg_temp.h2s_has_unique(c.tbl, c.col);
        IF EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = to_regclass(c.tbl) AND contype = 'p') THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE (%I)',
                           c.tbl, c.tbl || '_' || c.col || '_key', c.col);
        ELSE
            EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%I)', c.tbl, c.col);
        END IF;
    END LOOP;

    -- 3. Recipients whose emails differ only in case: one per customer, so that the core
    --    migration's unique index on lower(email) can be built. The earliest row (then the
    --    smallest id) survives and takes the others' name and phone where it has none; their
    --    jobs are repointed; the merged rows are kept whole in h2s_recipients_merged.
    IF to_regclass('h2s_recipients') IS NOT NULL THEN
        CREATE TEMP TABLE h2s_merge ON COMMIT DROP AS
        SELECT recipient_id, keep, email, 0::bigint AS jobs
        FROM (
            SELECT recipient_id, email,
                   first_value(recipient_id) OVER w AS keep
            FROM h2s_recipients
            WHERE email IS NOT NULL
            WINDOW w AS (PARTITION BY lower(email) ORDER BY created_at, recipient_id)
        ) r
        WHERE recipient_id <> keep;
        SELECT count(*) INTO n FROM h2s_merge;
        IF n > 0 THEN
            UPDATE h2s_recipients s
            SET name = COALESCE(s.name, f.name), phone = COALESCE(s.phone, f.phone)
            FROM (
                SELECT m.keep,
                       (array_agg(r.name ORDER BY r.created_at, r.recipient_id)
                            FILTER (WHERE r.name IS NOT NULL))[1] AS name,
                       (array_agg(r.phone ORDER BY r.created_at, r.recipient_id)
                            FILTER (WHERE r.phone IS NOT NULL))[1] AS phone
                FROM h2s_merge m JOIN h2s_recipients r USING (recipient_id)
                GROUP BY m.keep
            ) f
            WHERE s.recipient_id = f.keep;
            INSERT INTO h2s_recipients_merged (recipient_id, merged_into, original)
            SELECT r.recipient_id, m.keep, to_jsonb(r)
            FROM h2s_merge m JOIN h2s_recipients r USING (recipient_id);
            IF to_regclass('h2s_dispatch_jobs') IS NOT NULL THEN
                UPDATE h2s_merge m
                SET jobs = (SELECT count(*) FROM h2s_dispatch_jobs j
                            WHERE j.recipient_id = m.recipient_id);
                UPDATE h2s_dispatch_jobs j SET recipient_id = m.keep
                FROM h2s_merge m WHERE j.recipient_id = m.recipient_id;
            END IF;
            SELECT jsonb_agg(jsonb_build_object('merged', recipient_id, 'into', keep,
                                                'email', email, 'jobs_repointed', jobs)
                             ORDER BY keep, recipient_id)
            INTO detail
            FROM h2s_merge;
            DELETE FROM h2s_recipients r USING h2s_merge m WHERE r.recipient_id = m.recipient_id;
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('merge', 'h2s_recipients', n,
                    format('%s recipients whose email differs only in letter case from an '
                           'earlier one merged into it (their jobs repointed; the rows kept '
                           'in h2s_recipients_merged)', n),
                    detail);
        END IF;
        DROP TABLE h2s_merge;
    END IF;

    -- 4. Orders linked to a job that does not exist: the core migration's foreign key cannot
    --    hold while they keep that link. The link is removed and recorded here; the
    --    reconciler gives a paid one its job.
    IF to_regclass('h2s_orders') IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_constraint
                       WHERE conrelid = to_regclass('h2s_orders')
                         AND conname = 'h2s_orders_dispatch_job_fk') THEN
        IF to_regclass('h2s_dispatch_jobs') IS NOT NULL THEN
            SELECT count(*), jsonb_agg(jsonb_build_object('order_id', o.order_id,
                       'dispatch_job_id', o.dispatch_job_id, 'status', o.status)
                       ORDER BY o.order_id)
            INTO n, detail
            FROM h2s_orders o
            WHERE o.dispatch_job_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM h2s_dispatch_jobs j WHERE j.job_id = o.dispatch_job_id);
        ELSE
            SELECT count(*), jsonb_agg(jsonb_build_object('order_id', o.order_id,
                       'dispatch_job_id', o.dispatch_job_id, 'status', o.status)
                       ORDER BY o.order_id)
            INTO n, detail
            FROM h2s_orders o
            WHERE o.dispatch_job_id IS NOT NULL;
        END IF;
        IF n > 0 THEN
            UPDATE h2s_orders o SET dispatch_job_id = NULL
            FROM jsonb_array_elements(detail) d
            WHERE o.order_id = d->>'order_id';
            INSERT INTO h2s_adoption_log (action, table_name, row_count, message, detail)
            VALUES ('unlink', 'h2s_orders', n,
                    format('%s orders named a dispatch job that does not exist: link removed '
                           '(old values in detail); the reconciler gives a paid one its job', n),
                    detail);
        END IF;
    END IF;
END
$adopt$;

DROP FUNCTION pg_temp.h2s_column_type(TEXT, TEXT);
DROP FUNCTION pg_temp.h2s_has_unique(TEXT, TEXT);
