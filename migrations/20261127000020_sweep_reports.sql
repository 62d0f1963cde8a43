-- Every sweep's report (the scheduled reconciler, `reconcile --once`, the admin console), so
-- that the last successful sweep is known to every process (`/metrics`, alerts) and the
-- console can show the last reports, whichever process ran them.
CREATE TABLE h2s_sweep_reports (
    id          bigserial PRIMARY KEY,
    finished_at timestamptz NOT NULL DEFAULT now(),
    dry_run     boolean NOT NULL,
    succeeded   boolean NOT NULL,
    report      jsonb NOT NULL
);

-- The last successful real sweep, read at every scrape.
CREATE INDEX h2s_sweep_reports_last_success ON h2s_sweep_reports (finished_at DESC)
    WHERE succeeded AND NOT dry_run;
CREATE INDEX h2s_sweep_reports_recent ON h2s_sweep_reports (finished_at DESC);
