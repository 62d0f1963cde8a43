//! Drop-in for the running shop (issue 8): the old backend's database adopted in place, the
//! old readers' view of the job link, and the migrations as one transaction.

use std::{collections::BTreeMap, process::Command, time::Duration};

use h2s_dispatch::{
    db, migrate,
    reconcile::{self, SweepOptions, SweepReport},
    stripe::{StripeClientConfig, StripeHttp},
};
use sqlx::{Connection, PgConnection, PgPool, migrate::Migrate};
use stripe_standin::PaymentStatus;

use crate::helpers::{
    Options, TestApp, TestDatabase, empty_database, spawn_app, spawn_app_on, wait_until,
};

// ---------------------------------------------------------------------------------------
// The old backend's database
// ---------------------------------------------------------------------------------------

const ANN: &str = "00000000-0000-0000-0000-0000000000a1";
const ANN_LOWER: &str = "00000000-0000-0000-0000-0000000000a2";
const JOB_OF_LINKED_1: &str = "00000000-0000-0000-0000-00000000f001";
const JOB_OF_LINKED_2: &str = "00000000-0000-0000-0000-00000000f002";
const JOB_NOT_LINKED: &str = "00000000-0000-0000-0000-00000000f005";

/// The old backend's tables: today's names, a few of today's columns, an old column of its
/// own (`technician`), no apalis schema.
const OLD_SCHEMA: &str = r#"
CREATE TABLE h2s_recipients (
    recipient_id UUID PRIMARY KEY,
    email        TEXT NOT NULL,
    name         TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE h2s_orders (
    order_id          TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    dispatch_job_id   UUID,
    stripe_session_id TEXT,
    customer_email    TEXT,
    customer_name     TEXT,
    metadata_json     JSONB,
    created_at        TIMESTAMPTZ DEFAULT now()
);
CREATE TABLE h2s_dispatch_jobs (
    job_id       UUID PRIMARY KEY,
    order_id     TEXT NOT NULL,
    recipient_id UUID REFERENCES h2s_recipients (recipient_id),
    status       TEXT NOT NULL,
    technician   TEXT NOT NULL
);
"#;

/// Its rows: linked paid orders (a job row, the link in the metadata only, or in the column
/// only), orphan paid orders (no job at all; an old job never linked; a link to a job that
/// does not exist), a pending order, an order status and a job status outside today's sets,
/// and two recipients whose emails differ only in case.
const OLD_ROWS: &str = r#"
INSERT INTO h2s_recipients (recipient_id, email, name, created_at) VALUES
 ('00000000-0000-0000-0000-0000000000a1', 'Ann@Example.com', 'Ann', now() - interval '60 days'),
 ('00000000-0000-0000-0000-0000000000a2', 'ann@example.com', NULL, now() - interval '30 days'),
 ('00000000-0000-0000-0000-0000000000b1', 'bob@example.com', 'Bob', now() - interval '50 days');
INSERT INTO h2s_orders VALUES
 ('OLD-LINKED-1', 'paid', NULL, 'cs_old_1', 'Ann@Example.com', 'Ann',
  '{"dispatch_job_id": "00000000-0000-0000-0000-00000000f001", "service_address": "1 Old Rd"}',
  now() - interval '20 days'),
 ('OLD-LINKED-2', 'paid', '00000000-0000-0000-0000-00000000f002', 'cs_old_2', 'bob@example.com',
  'Bob', '{}', now() - interval '19 days'),
 ('OLD-ORPHAN-1', 'paid', NULL, 'cs_old_3', 'ann@example.com', NULL,
  '{"service_address": "2 Old Rd"}', now() - interval '10 days'),
 ('OLD-ORPHAN-2', 'paid', NULL, NULL, 'carl@example.com', 'Carl', NULL, now() - interval '9 days'),
 ('OLD-UNLINKED-JOB', 'paid', NULL, 'cs_old_5', 'bob@example.com', 'Bob', '{}',
  now() - interval '8 days'),
 ('OLD-DANGLING', 'paid', '00000000-0000-0000-0000-00000000dead', 'cs_old_8', 'dana@example.com',
  NULL, '{}', now() - interval '7 days'),
 ('OLD-PENDING-1', 'pending_payment', NULL, NULL, 'dan@example.com', NULL, '{}',
  now() - interval '2 days'),
 ('OLD-ARCHIVED', 'archived', NULL, 'cs_old_7', 'eve@example.com', NULL, '{}',
  now() - interval '1 days');
INSERT INTO h2s_dispatch_jobs VALUES
 ('00000000-0000-0000-0000-00000000f001', 'OLD-LINKED-1', '00000000-0000-0000-0000-0000000000a2',
  'ready', 'T1'),
 ('00000000-0000-0000-0000-00000000f002', 'OLD-LINKED-2', '00000000-0000-0000-0000-0000000000b1',
  'paused', 'T2'),
 ('00000000-0000-0000-0000-00000000f005', 'OLD-UNLINKED-JOB',
  '00000000-0000-0000-0000-0000000000b1', 'awaiting_payment', 'T3');
"#;

const OLD_ORDERS: usize = 8;
const OLD_PAID: [&str; 6] = [
    "OLD-LINKED-1",
    "OLD-LINKED-2",
    "OLD-ORPHAN-1",
    "OLD-ORPHAN-2",
    "OLD-UNLINKED-JOB",
    "OLD-DANGLING",
];

async fn old_database() -> TestDatabase {
    let db = empty_database().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{OLD_SCHEMA}{OLD_ROWS}")))
        .execute(&db.pool)
        .await
        .expect("the old schema");
    db
}

// ---------------------------------------------------------------------------------------
// Comparing a whole database
// ---------------------------------------------------------------------------------------

/// `pg_dump` of the database (schema and data), when a `pg_dump` is found.
fn pg_dump(url: &str) -> Option<String> {
    let candidates = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .chain(std::iter::once("pg_dump".to_string()));
    for bin in candidates {
        if let Ok(out) = Command::new(&bin)
            .args(["--no-owner", "--no-privileges", "--dbname", url])
            .output()
            && out.status.success()
        {
            // Newer pg_dumps open and close with a random `\restrict` key: not content.
            let dump = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
                .collect::<Vec<_>>()
                .join("\n");
            return Some(dump);
        }
    }
    None
}

/// The schema (catalog) and every row of every table, as one comparable value.
async fn state(pool: &PgPool) -> BTreeMap<String, String> {
    let schema: Vec<(String, String)> = sqlx::query_as(
        r#"
        SELECT 'column ' || table_schema || '.' || table_name || '.' || column_name,
               data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
        FROM information_schema.columns
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT 'constraint ' || conrelid::regclass || '.' || conname,
               pg_get_constraintdef(oid) || ' ' || convalidated
        FROM pg_constraint WHERE connamespace::regnamespace::text NOT LIKE 'pg\_%'
          AND connamespace::regnamespace::text <> 'information_schema'
        UNION ALL
        SELECT 'index ' || schemaname || '.' || indexname, indexdef
        FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT 'schema ' || nspname, '' FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
        "#,
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut all: BTreeMap<String, String> = schema.into_iter().collect();
    let tables: Vec<String> = sqlx::query_scalar(
        r#"
        SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
        "#,
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in tables {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM {table} t"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        all.insert(format!("rows {table}"), rows.unwrap_or_default());
    }
    all
}

/// Both views of the database: the dump, and the catalog and rows through SQL.
async fn everything(url: &str, pool: &PgPool) -> (Option<String>, BTreeMap<String, String>) {
    (pg_dump(url), state(pool).await)
}

fn assert_unchanged(
    before: &(Option<String>, BTreeMap<String, String>),
    after: &(Option<String>, BTreeMap<String, String>),
) {
    assert_eq!(before.1, after.1, "the schema or the rows changed");
    match (&before.0, &after.0) {
        (Some(a), Some(b)) => assert!(a == b, "the dump changed"),
        _ => eprintln!("[adopt] pg_dump not found: compared through SQL only"),
    }
}

/// `api --migrate-check` on the database: exit code, stdout, stderr.
fn migrate_check(url: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_api"))
        .args(["--migrate-check", "--database-url", url])
        .env_clear()
        .env("RUST_LOG", "off")
        .output()
        .expect("the api binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------
// Sweeps and facts
// ---------------------------------------------------------------------------------------

async fn sweep(app: &TestApp) -> SweepReport {
    let stripe = StripeHttp::new(StripeClientConfig {
        secret_key: "sk_test_adopt".to_owned().into(),
        api_base: app.stripe.base_url(),
        timeout: Duration::from_secs(2),
        max_rps: None,
    })
    .unwrap();
    reconcile::sweep(&app.pool, &stripe, &SweepOptions::default())
        .await
        .expect("the sweep runs")
}

/// `(jobs of the order, the column's job, the metadata's job, the linked job's order)`.
async fn link(
    pool: &PgPool,
    order_id: &str,
) -> (i64, Option<String>, Option<String>, Option<String>) {
    sqlx::query_as(
        r#"
        SELECT (SELECT count(*) FROM h2s_dispatch_jobs j WHERE j.order_id = o.order_id),
               o.dispatch_job_id::text,
               o.metadata_json->>'dispatch_job_id',
               (SELECT j.order_id FROM h2s_dispatch_jobs j WHERE j.job_id = o.dispatch_job_id)
        FROM h2s_orders o WHERE o.order_id = $1
        "#,
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Exactly one job, linked both ways, and the job's own order is this one. The job id.
async fn assert_linked_both_ways(pool: &PgPool, order_id: &str) -> String {
    let (jobs, column, metadata, job_order) = link(pool, order_id).await;
    assert_eq!(jobs, 1, "{order_id}: exactly one job");
    let column = column.unwrap_or_else(|| panic!("{order_id}: no dispatch_job_id"));
    assert_eq!(
        metadata.as_deref(),
        Some(column.as_str()),
        "{order_id}: metadata"
    );
    assert_eq!(
        job_order.as_deref(),
        Some(order_id),
        "{order_id}: the job's order"
    );
    column
}

async fn migrations_recorded(pool: &PgPool, table: &str) -> Vec<(i64, bool)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, success FROM {table} ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// The old readers
// ---------------------------------------------------------------------------------------

/// The old runbook's query, verbatim.
const RUNBOOK: &str = "SELECT order_id, metadata_json->>'dispatch_job_id' AS job_id, status FROM h2s_orders WHERE created_at > NOW() - INTERVAL '1 hour'";

#[tokio::test]
async fn the_runbook_query_shows_the_job_id_of_every_order_with_a_job_equal_to_the_column() {
    let app = spawn_app().await;
    // Checkouts; one paid through the webhook.
    let (_, paid_session) = app.checkout("paid@example.com").await;
    app.checkout("pending@example.com").await;
    app.checkout("Pending@Example.com").await;
    let paid_order = {
        let delivery = app
            .stripe
            .complete_session(&paid_session, PaymentStatus::Paid)
            .await
            .unwrap();
        assert_eq!(delivery.status, 200);
        sqlx::query_scalar::<_, String>(
            "SELECT order_id FROM h2s_orders WHERE stripe_session_id = $1",
        )
        .bind(&paid_session)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    wait_until(
        "the paid order's job is ready",
        Duration::from_secs(10),
        || async { app.job_status(&paid_order).await.as_deref() == Some("ready") },
    )
    .await;
    // Written the old way (as the old backend keeps doing during the switch): a paid order
    // with no job; one whose job was never linked; one linked in the metadata only.
    sqlx::raw_sql(
        r#"
        INSERT INTO h2s_orders (order_id, status, customer_email, metadata_json)
        VALUES ('OLD-WAY-1', 'paid', 'old1@example.com', '{}'),
               ('OLD-WAY-2', 'paid', 'old2@example.com', '{}'),
               ('OLD-WAY-3', 'paid', 'old2@example.com',
                '{"dispatch_job_id": "00000000-0000-0000-0000-00000000c003"}');
        INSERT INTO h2s_recipients (recipient_id, email)
        VALUES ('00000000-0000-0000-0000-0000000000c2', 'old2@example.com');
        INSERT INTO h2s_dispatch_jobs (job_id, order_id, recipient_id, status)
        VALUES ('00000000-0000-0000-0000-00000000c002', 'OLD-WAY-2',
                '00000000-0000-0000-0000-0000000000c2', 'awaiting_payment'),
               ('00000000-0000-0000-0000-00000000c003', 'OLD-WAY-3',
                '00000000-0000-0000-0000-0000000000c2', 'ready');
        "#,
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let report = sweep(&app).await;

    assert_eq!(report.orphans_repaired, 3, "{report}");
    let rows: Vec<(String, Option<String>, String)> =
        sqlx::query_as(RUNBOOK).fetch_all(&app.pool).await.unwrap();
    assert_eq!(rows.len(), 6);
    for (order_id, job_id, _status) in &rows {
        let column: Option<String> =
            sqlx::query_scalar("SELECT dispatch_job_id::text FROM h2s_orders WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert!(column.is_some(), "{order_id} has a job");
        assert_eq!(
            job_id, &column,
            "{order_id}: the runbook shows the column's job"
        );
    }
    // The old job was linked, not duplicated, and made ready.
    assert_eq!(
        assert_linked_both_ways(&app.pool, "OLD-WAY-2").await,
        "00000000-0000-0000-0000-00000000c002"
    );
    assert_eq!(app.job_status("OLD-WAY-2").await.as_deref(), Some("ready"));
    assert_eq!(
        assert_linked_both_ways(&app.pool, "OLD-WAY-3").await,
        "00000000-0000-0000-0000-00000000c003"
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Adoption
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_old_database_is_rehearsed_unchanged_then_adopted_in_place_and_healed_by_one_sweep() {
    let db = old_database().await;
    let (url, pool) = (db.url.clone(), db.pool.clone());
    let before = everything(&url, &pool).await;

    // The rehearsal: reports, changes nothing.
    let (code, stdout, stderr) = migrate_check(&url);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for expected in [
        "would apply",
        "+ column public.h2s_orders.idempotency_key",
        "[merge] h2s_recipients: 1 recipients",
        "[backfill] h2s_orders: dispatch_job_id set from metadata_json.dispatch_job_id on 1",
        "[backfill] h2s_orders: metadata_json.dispatch_job_id set from dispatch_job_id on 1",
        "[unlink] h2s_orders: 1 orders",
        "(archived)",
        "(paused)",
        "[relax] h2s_dispatch_jobs: old column h2s_dispatch_jobs.technician",
        "constraints left NOT VALID",
        "h2s_orders.h2s_orders_status_check",
        "h2s_dispatch_jobs.h2s_dispatch_jobs_status_check",
        "rolled back",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    assert_unchanged(&before, &everything(&url, &pool).await);

    // The start: the same migrations, committed.
    db::migrate(&pool)
        .await
        .expect("the old database is adopted");
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM h2s_orders").await,
        OLD_ORDERS as i64
    );
    assert_eq!(count("SELECT count(*) FROM h2s_dispatch_jobs").await, 3);
    assert_eq!(count("SELECT count(*) FROM h2s_recipients").await, 2);
    assert_eq!(
        count("SELECT count(*) FROM h2s_recipients_merged WHERE merged_into = '00000000-0000-0000-0000-0000000000a1'").await,
        1,
        "the merged recipient is kept whole"
    );
    let recipient_of_linked_1: String = sqlx::query_scalar(
        "SELECT recipient_id::text FROM h2s_dispatch_jobs WHERE order_id = 'OLD-LINKED-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        recipient_of_linked_1, ANN,
        "its job repointed to the survivor"
    );
    assert_ne!(recipient_of_linked_1, ANN_LOWER);
    // Old values are kept as they are, and old constraints that refuse them stay NOT VALID.
    let (archived, paused, technician): (String, String, String) = sqlx::query_as(
        "SELECT (SELECT status FROM h2s_orders WHERE order_id = 'OLD-ARCHIVED'),
                (SELECT status FROM h2s_dispatch_jobs WHERE order_id = 'OLD-LINKED-2'),
                (SELECT technician FROM h2s_dispatch_jobs WHERE order_id = 'OLD-LINKED-2')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (archived.as_str(), paused.as_str(), technician.as_str()),
        ("archived", "paused", "T2")
    );
    let not_valid: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint WHERE NOT convalidated ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        not_valid,
        ["h2s_dispatch_jobs_status_check", "h2s_orders_status_check"]
    );

    // The api starts on it; one sweep heals every paid order.
    let app = spawn_app_on(db, Options::default()).await;
    let report = sweep(&app).await;
    assert_eq!(report.failed, 0, "{report}");
    assert_eq!(report.orphans_repaired, 4, "{report}");
    let mut jobs = BTreeMap::new();
    for order_id in OLD_PAID {
        jobs.insert(order_id, assert_linked_both_ways(&app.pool, order_id).await);
    }
    assert_eq!(jobs["OLD-LINKED-1"], JOB_OF_LINKED_1, "old link kept");
    assert_eq!(jobs["OLD-LINKED-2"], JOB_OF_LINKED_2, "old link kept");
    assert_eq!(
        jobs["OLD-UNLINKED-JOB"], JOB_NOT_LINKED,
        "the old job linked, no second one"
    );
    assert_eq!(
        app.job_status("OLD-UNLINKED-JOB").await.as_deref(),
        Some("ready")
    );
    assert_eq!(count("SELECT count(*) FROM h2s_dispatch_jobs").await, 6);
    assert_eq!(
        app.count("h2s_orders").await,
        OLD_ORDERS as i64,
        "no row lost"
    );
    let second = sweep(&app).await;
    assert_eq!((second.orphans_repaired, second.failed), (0, 0), "{second}");

    // Readers show old values as they are.
    let (code, order) = app.get_order("OLD-ARCHIVED").await;
    assert_eq!(code, 200);
    assert_eq!(order["status"], "archived");
    let listed = app
        .admin_get(format!("{}/api/admin/orders?status=archived", app.base_url))
        .await;
    assert_eq!(listed["orders"][0]["order_id"], "OLD-ARCHIVED");
    let listed = app
        .admin_get(format!(
            "{}/api/admin/dispatch-jobs?status=paused",
            app.base_url
        ))
        .await;
    assert_eq!(listed["jobs"][0]["order_id"], "OLD-LINKED-2");

    // An old customer's new checkout reuses their recipient.
    let recipients = app.count("h2s_recipients").await;
    let (order_id, _) = app.checkout("ANN@EXAMPLE.COM").await;
    let recipient: String =
        sqlx::query_scalar("SELECT recipient_id::text FROM h2s_dispatch_jobs WHERE order_id = $1")
            .bind(&order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recipient, ANN);
    assert_eq!(app.count("h2s_recipients").await, recipients);
    assert_linked_both_ways(&app.pool, &order_id).await;

    // Migrating again: nothing pending, nothing changed.
    let again = migrate::apply(&pool).await.expect("a second migration");
    assert!(
        again.applied.is_empty() && again.schema.is_empty(),
        "{again}"
    );
    let (code, stdout, _) = migrate_check(&url);
    assert_eq!(code, 0);
    assert!(stdout.contains("none pending"), "{stdout}");
    app.shutdown().await;
}

#[tokio::test]
async fn two_processes_migrating_an_old_database_at_once_adopt_it_once() {
    let db = old_database().await;
    let (url, pool) = (db.url.clone(), db.pool.clone());
    let other = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();

    let (a, b) = tokio::join!(migrate::apply(&pool), migrate::apply(&other));

    let (a, b) = (a.expect("first"), b.expect("second"));
    // One of them applied everything, the other found nothing pending.
    assert_eq!(
        a.applied.is_empty() as u8 + b.applied.is_empty() as u8,
        1,
        "{a}\n{b}"
    );
    let ours = migrations_recorded(&pool, "_sqlx_migrations").await;
    assert_eq!(ours.len(), db::MIGRATOR.iter().count());
    assert!(ours.iter().all(|(_, ok)| *ok));
    let merges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM h2s_adoption_log WHERE action = 'merge'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(merges, 1);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM h2s_orders")
            .fetch_one(&pool)
            .await
            .unwrap(),
        OLD_ORDERS as i64
    );
    other.close().await;
}

#[tokio::test]
async fn a_migration_that_fails_half_way_leaves_the_old_database_exactly_as_it_was() {
    let db = old_database().await;
    let (url, pool) = (db.url.clone(), db.pool.clone());
    // Two jobs for one order: the last adoption step refuses it, after the queue's, the first
    // adoption step's and the core migrations have run in the same transaction.
    sqlx::query(
        "INSERT INTO h2s_dispatch_jobs VALUES
         ('00000000-0000-0000-0000-00000000f0d1', 'OLD-LINKED-1', NULL, 'ready', 'T9')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = everything(&url, &pool).await;

    let error = db::migrate(&pool).await.expect_err("the adoption refuses");

    let message = format!("{error:#}");
    assert!(message.contains("more than one dispatch job"), "{message}");
    assert!(message.contains("OLD-LINKED-1"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert_unchanged(&before, &everything(&url, &pool).await);
    let (code, _, stderr) = migrate_check(&url);
    assert_eq!(code, 1);
    assert!(stderr.contains("more than one dispatch job"), "{stderr}");
    assert_unchanged(&before, &everything(&url, &pool).await);

    // Once an operator keeps one job per order, it goes through.
    sqlx::query(
        "DELETE FROM h2s_dispatch_jobs WHERE job_id = '00000000-0000-0000-0000-00000000f0d1'",
    )
    .execute(&pool)
    .await
    .unwrap();
    db::migrate(&pool).await.expect("adopted");
}

#[tokio::test]
async fn an_old_column_of_another_type_stops_the_adoption_naming_it_and_changes_nothing() {
    let db = empty_database().await;
    let (url, pool) = (db.url.clone(), db.pool.clone());
    sqlx::raw_sql(
        r#"
        CREATE TABLE h2s_orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL,
                                 created_at TIMESTAMP DEFAULT now());
        INSERT INTO h2s_orders (order_id, status) VALUES ('OLD-1', 'paid');
        "#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = everything(&url, &pool).await;

    let message = format!("{:#}", db::migrate(&pool).await.unwrap_err());

    assert!(message.contains("h2s_orders.created_at"), "{message}");
    assert!(message.contains("timestamp without time zone"), "{message}");
    assert_unchanged(&before, &everything(&url, &pool).await);
}

#[tokio::test]
async fn old_tables_with_only_their_keys_are_adopted_and_work() {
    let db = empty_database().await;
    let pool = db.pool.clone();
    sqlx::raw_sql(
        r#"
        CREATE TABLE h2s_recipients (recipient_id UUID PRIMARY KEY, email TEXT NOT NULL);
        CREATE TABLE h2s_orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL,
                                 customer_email TEXT);
        CREATE TABLE h2s_dispatch_jobs (job_id UUID PRIMARY KEY, order_id TEXT NOT NULL);
        INSERT INTO h2s_orders VALUES ('OLD-1', 'paid', 'Key@Example.com');
        INSERT INTO h2s_recipients VALUES (gen_random_uuid(), 'key@example.com');
        "#,
    )
    .execute(&pool)
    .await
    .unwrap();

    db::migrate(&pool).await.expect("adopted");
    let app = spawn_app_on(db, Options::default()).await;
    let report = sweep(&app).await;

    assert_eq!((report.orphans_repaired, report.failed), (1, 0), "{report}");
    assert_linked_both_ways(&app.pool, "OLD-1").await;
    app.checkout("KEY@example.com").await;
    assert_eq!(app.count("h2s_recipients").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_database_sqlx_migrated_before_adoption_existed_takes_the_new_migrations_and_sqlx_agrees()
{
    let db = empty_database().await;
    let (_url, pool) = (db.url.clone(), db.pool.clone());
    // As the previous release left it: the queue, then core and reconcile, by sqlx itself.
    apalis_postgres::PostgresStorage::setup(&pool)
        .await
        .unwrap();
    let earlier: Vec<_> = db::MIGRATOR
        .iter()
        .filter(|m| [20261127000001, 20261127000002].contains(&m.version))
        .cloned()
        .collect();
    sqlx::migrate::Migrator::with_migrations(earlier)
        .run(&pool)
        .await
        .unwrap();

    let report = migrate::apply(&pool).await.expect("the newer migrations");

    let versions: Vec<i64> = report.applied.iter().map(|a| a.version).collect();
    assert!(versions.contains(&20261127000000), "{report}");
    assert!(versions.contains(&20261127000003), "{report}");
    assert!(report.data.is_empty(), "nothing to adopt: {report}");
    // sqlx's own migrator agrees: nothing pending, no checksum or order complaint.
    db::MIGRATOR.run(&pool).await.expect("sqlx agrees");
    apalis_postgres::PostgresStorage::setup(&pool)
        .await
        .expect("apalis agrees");
    assert_eq!(
        migrations_recorded(&pool, "_sqlx_migrations").await.len(),
        db::MIGRATOR.iter().count()
    );
}

#[tokio::test]
async fn the_migration_lock_is_the_one_sqlx_takes() {
    let db = empty_database().await;
    let (url, pool) = (db.url.clone(), db.pool.clone());
    let mut holder = PgConnection::connect(&url).await.unwrap();
    holder.lock().await.unwrap();

    let blocked = tokio::time::timeout(Duration::from_millis(500), migrate::apply(&pool)).await;
    assert!(
        blocked.is_err(),
        "migrated while sqlx's migrator held its lock"
    );

    holder.unlock().await.unwrap();
    migrate::apply(&pool)
        .await
        .expect("migrates once the lock is free");
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn two_api_processes_started_at_once_on_an_old_database_both_serve_and_adopt_it_once() {
    let db = old_database().await;
    let (url, pool) = (db.url.clone(), db.pool.clone());
    let ports = [free_port(), free_port()];
    let mut children: Vec<std::process::Child> = ports
        .iter()
        .map(|port| {
            Command::new(env!("CARGO_BIN_EXE_api"))
                .args([
                    "--database-url",
                    &url,
                    "--bind",
                    &format!("127.0.0.1:{port}"),
                ])
                .args(["--stripe-webhook-secret", "whsec_adopt_test"])
                .env_remove("DATABASE_URL")
                .env("RUST_LOG", "off")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the api binary starts")
        })
        .collect();

    let http = reqwest::Client::new();
    let mut up = [false, false];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while up.contains(&false) && tokio::time::Instant::now() < deadline {
        for (i, port) in ports.iter().enumerate() {
            up[i] = up[i]
                || http
                    .get(format!("http://127.0.0.1:{port}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
        }
        if children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(Some(_))))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs: Vec<String> = children.iter_mut().map(stop).collect();

    assert_eq!(up, [true, true], "both apis serve: {logs:?}");
    let ours = migrations_recorded(&pool, "_sqlx_migrations").await;
    assert_eq!(ours.len(), db::MIGRATOR.iter().count());
    let merges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM h2s_adoption_log WHERE action = 'merge'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(merges, 1, "adopted once");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM h2s_orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, OLD_ORDERS as i64);
}

/// Kills a child this test started, waits for it, and returns its stderr.
fn stop(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    err
}
