-- The queue's insert trigger, one NOTIFY per statement and queue instead of one per row.
--
-- apalis's trigger (`apalis.notify_new_jobs`, FOR EACH ROW) sent a notification with the
-- row's id for every row inserted. A transaction that notifies holds a cluster-wide lock
-- through its commit, and unique payloads are never collapsed, so the checkouts' commits could
-- not be grouped. This one sends, per statement, one notification per queue that got rows
-- due now, with a constant payload `{"job_type": "<queue>"}`: Postgres collapses identical
-- notifications within a transaction, so a transaction costs at most one per queue. The
-- worker's listener (`outbox::runtime::listen`) wakes on it and fetches whatever is due; the
-- row id was never needed.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;

CREATE OR REPLACE FUNCTION apalis.notify_new_jobs_per_statement() RETURNS TRIGGER AS $$
DECLARE
    queue TEXT;
BEGIN
    FOR queue IN SELECT DISTINCT job_type FROM inserted WHERE run_at <= now() LOOP
        PERFORM pg_notify('apalis::job::insert', json_build_object('job_type', queue)::text);
    END LOOP;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER notify_workers
AFTER INSERT ON apalis.jobs
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION apalis.notify_new_jobs_per_statement();
