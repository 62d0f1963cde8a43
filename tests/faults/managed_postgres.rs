//! Managed Postgres as shops run it (issue 10), on a throwaway cluster of the test's own:
//! TLS only (`hostssl`), a CA and server certificate made here with `openssl`, an application
//! role that owns its database and may not connect to `postgres` (nor create databases).

use std::{path::Path, path::PathBuf, process::Command, time::Duration};

use stripe_standin::{StandIn, StandInConfig};

use crate::helpers::*;

const APP_ROLE: &str = "h2s_app";
const APP_PASSWORD: &str = "app-pw-7Qz";
const APP_DB: &str = "h2s_app";

/// A CA, and a server certificate it signed for `localhost` and `127.0.0.1`, as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_pki() -> Pki {
    let dir = std::env::temp_dir().join(format!("h2s-pki-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (key, cert, cn) in [
        ("ca.key", "ca.pem", "h2s test CA"),
        ("other-ca.key", "other-ca.pem", "unrelated CA"),
    ] {
        let subj = format!("/CN={cn}");
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj];
        args.extend(ec);
        args.extend([
            "-keyout",
            key,
            "-out",
            cert,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&dir, &args);
    }
    let mut args = vec!["req", "-new", "-subj", "/CN=localhost"];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&dir, &args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    Pki { dir }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster that speaks TLS only, with passwords (SCRAM) for every role but the superuser,
/// and the application's role and database made as a provider's console would.
async fn managed_cluster(pki: &Pki) -> Cluster {
    let config = ClusterConfig {
        files: vec![
            ("server.crt".into(), pki.read("server.crt")),
            ("server.key".into(), pki.read("server.key")),
        ],
        hba: Some(
            "local all all trust\n\
             hostssl all postgres 127.0.0.1/32 trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n"
                .into(),
        ),
        options: vec![
            "ssl=on".into(),
            "ssl_cert_file=server.crt".into(),
            "ssl_key_file=server.key".into(),
        ],
    };
    let cluster = tokio::task::spawn_blocking(move || Cluster::init_with(config))
        .await
        .expect("cluster");
    let admin = pool(&format!(
        "{}/postgres?sslmode=require",
        cluster.server_url()
    ))
    .await;
    for sql in [
        format!("CREATE ROLE {APP_ROLE} LOGIN NOCREATEDB PASSWORD '{APP_PASSWORD}'"),
        format!("CREATE DATABASE {APP_DB} OWNER {APP_ROLE}"),
        // Managed Postgres: the application's role reaches its own database only.
        "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC".into(),
        "REVOKE CONNECT ON DATABASE template1 FROM PUBLIC".into(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("setting up the managed cluster");
    }
    admin.close().await;
    cluster
}

fn app_url(cluster: &Cluster, database: &str, query: &str) -> String {
    format!(
        "postgres://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{}/{database}{query}",
        cluster.port
    )
}

/// Runs `bin args` to its end within 30 s: (exit code, stderr lines).
async fn run_to_end(bin: &str, args: &[&str]) -> (i32, Vec<String>) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(bin)
            .args(args)
            .env_clear()
            .env("RUST_LOG", "off")
            .output(),
    )
    .await
    .expect("the process ends by itself")
    .expect("the process runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        stderr.lines().map(str::to_owned).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_servers_ca_runs_a_checkout_as_a_role_that_only_reaches_its_own_database()
 {
    let _serial = one_at_a_time().await;
    let pki = make_pki();
    let cluster = managed_cluster(&pki).await;
    let ca = pki.ca().to_string_lossy().to_string();

    // The role really has no way into `postgres`.
    let denied = sqlx::PgPool::connect(&app_url(&cluster, "postgres", "?sslmode=require")).await;
    assert!(denied.is_err(), "the app role reached `postgres`");

    let stripe = StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in");
    // The api takes sslmode and sslrootcert from the URL...
    let api_db = app_url(
        &cluster,
        APP_DB,
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    );
    let api = spawn_api_with(
        &[
            "--database-url",
            &api_db,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
        ],
        &[],
    )
    .await;
    // ...the worker from its settings.
    let worker_db = app_url(&cluster, APP_DB, "");
    let mut worker = spawn_worker_with(
        &[
            "--database-url",
            &worker_db,
            "--database-sslmode",
            "verify-full",
            "--database-sslrootcert",
            &ca,
            "--stripe-secret-key",
            "sk_test_managed",
            "--stripe-api-base",
            &stripe.base_url(),
        ],
        &[],
    )
    .await;

    let http = reqwest::Client::new();
    let posted = post_checkout(&http, &api.base_url, "tls@example.com", "tls-1").await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    assert!(posted.body["pay"]["session_id"].is_string());

    // Every session of the app role is encrypted (the server allows nothing else anyway).
    let admin = pool(&format!(
        "{}/{APP_DB}?sslmode=require",
        cluster.server_url()
    ))
    .await;
    let (sessions, encrypted): (i64, i64) = sqlx::query_as(
        r#"
        SELECT count(*), count(*) FILTER (WHERE s.ssl)
        FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.usename = $1
        "#,
    )
    .bind(APP_ROLE)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(
        sessions > 0 && sessions == encrypted,
        "{encrypted}/{sessions}"
    );

    // `require` works without a CA: the reconciler runs one sweep as the same role.
    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_reconcile"),
        &[
            "--once",
            "--json",
            "--database-url",
            &app_url(&cluster, APP_DB, "?sslmode=require"),
            "--stripe-secret-key",
            "sk_test_managed",
            "--stripe-api-base",
            &stripe.base_url(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr:?}");

    crate::report!(
        "[faults/managed_postgres] checkout over verify-full: {} · app sessions {encrypted}/{sessions} encrypted · reconcile with require: exit {code}",
        posted.status
    );
    admin.close().await;
    worker.terminate(Duration::from_secs(10));
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_a_wrong_ca_and_a_missing_database_each_stop_with_one_clear_line() {
    let _serial = one_at_a_time().await;
    let pki = make_pki();
    let cluster = managed_cluster(&pki).await;
    let other = pki.other_ca().to_string_lossy().to_string();

    // A CA that did not sign the server's certificate: refused, one line, password masked.
    let url = app_url(
        &cluster,
        APP_DB,
        &format!("?sslmode=verify-full&sslrootcert={other}"),
    );
    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_worker"),
        &["--database-url", &url, "--stripe-secret-key", "sk_test_x"],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    let line = &stderr[0];
    assert!(line.contains("cannot connect to the database"), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(!line.contains(APP_PASSWORD), "{line}");

    // A database that does not exist, without --create-database: one line naming it, for
    // each process, and nothing created.
    let missing = app_url(&cluster, "h2s_missing", "?sslmode=require");
    for (bin, extra) in [
        (
            env!("CARGO_BIN_EXE_api"),
            vec![
                "--stripe-webhook-secret",
                "whsec_x",
                "--bind",
                "127.0.0.1:0",
            ],
        ),
        (
            env!("CARGO_BIN_EXE_worker"),
            vec!["--stripe-secret-key", "sk_test_x"],
        ),
        (
            env!("CARGO_BIN_EXE_reconcile"),
            vec!["--once", "--stripe-secret-key", "sk_test_x"],
        ),
    ] {
        let mut args = vec!["--database-url", missing.as_str()];
        args.extend(extra);
        let (code, stderr) = run_to_end(bin, &args).await;
        assert_eq!(code, 1, "{bin}: {stderr:?}");
        assert_eq!(stderr.len(), 1, "{bin}: {stderr:?}");
        assert!(
            stderr[0].contains("\"h2s_missing\" does not exist"),
            "{}",
            stderr[0]
        );
        assert!(stderr[0].contains("--create-database"), "{}", stderr[0]);
        assert!(!stderr[0].contains(APP_PASSWORD), "{}", stderr[0]);
    }
    // With --create-database but a role that may not create databases: still one line.
    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_worker"),
        &[
            "--database-url",
            &missing,
            "--stripe-secret-key",
            "sk_test_x",
            "--create-database",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].contains("cannot create database"),
        "{}",
        stderr[0]
    );

    let admin = pool(&format!(
        "{}/postgres?sslmode=require",
        cluster.server_url()
    ))
    .await;
    let created: i64 =
        sqlx::query_scalar(r#"SELECT count(*) FROM pg_database WHERE datname = 'h2s_missing'"#)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(created, 0);
    admin.close().await;
    crate::report!("[faults/managed_postgres] wrong CA: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_still_creates_its_missing_database() {
    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_dev");
    let mut api = spawn_api_with(&["--dev", "--database-url", &db], &[]).await;
    let pool = pool(&db).await;
    let migrated: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM _sqlx_migrations"#)
        .fetch_one(&pool)
        .await
        .expect("the database exists and is migrated");
    assert!(migrated > 0);
    assert_eq!(api.proc.terminate(Duration::from_secs(15)), Some(0));
    pool.close().await;
    drop_database(&db).await;
}
