//! A connection pooler in front of Postgres (issue 10): PgBouncer in transaction mode is
//! refused at start with one clear line; in session mode the processes run.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::*;

/// PgBouncer as a child process (run as `postgres`: it refuses root), killed on drop.
struct PgBouncer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl PgBouncer {
    /// Two pools on `database` of the main cluster: `tx` (transaction mode) and `session`.
    fn start(server_port: u16, database: &str) -> PgBouncer {
        let dir = std::env::temp_dir().join(format!("h2s-pgb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let d = dir.display();
        let target = format!("host=127.0.0.1 port={server_port} dbname={database} user=postgres");
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n\
                 tx = {target} pool_mode=transaction\n\
                 session = {target} pool_mode=session\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir = {d}\n\
                 auth_type = any\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 default_pool_size = 8\n\
                 logfile = {d}/pgbouncer.log\n\
                 pidfile = {d}/pgbouncer.pid\n"
            ),
        )
        .unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        let ini = dir.join("pgbouncer.ini");
        // Debian installs it in /usr/sbin, which a non-login PATH may lack.
        let exe = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("pgbouncer");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", exe]);
            c
        } else {
            Command::new(exe)
        };
        let child = cmd
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer runs (apt-get install pgbouncer)");
        let bouncer = PgBouncer { child, port, dir };
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "pgbouncer did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        bouncer
    }

    fn url(&self, pool: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{pool}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // `runuser` forwards the signal to pgbouncer, its child.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_mode_pooler_is_refused_at_start_with_one_line_and_a_session_mode_one_works()
{
    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_pooler");
    let pool = h2s_dispatch::db::connect_and_migrate(&db, 2)
        .await
        .expect("database");
    let name = db.rsplit('/').next().unwrap().to_owned();
    let server_port = url::Url::parse(&main_cluster())
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(5432);
    let bouncer = tokio::task::spawn_blocking(move || PgBouncer::start(server_port, &name))
        .await
        .unwrap();

    // Transaction mode: every process stops at once, one line saying why.
    let started = Instant::now();
    for (bin, extra) in [
        (
            env!("CARGO_BIN_EXE_worker"),
            vec!["--stripe-secret-key", "sk_test_x"],
        ),
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
            env!("CARGO_BIN_EXE_reconcile"),
            vec!["--once", "--stripe-secret-key", "sk_test_x"],
        ),
    ] {
        let tx = bouncer.url("tx");
        let mut args = vec!["--database-url", tx.as_str()];
        args.extend(extra);
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(bin)
                .args(&args)
                .env_clear()
                .env("RUST_LOG", "off")
                .output(),
        )
        .await
        .expect("no hang")
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{bin}: {stderr}");
        assert!(
            stderr.contains("connection pooler in transaction or statement mode"),
            "{bin}: {stderr}"
        );
    }
    let refused_in = started.elapsed();

    // Session mode: the api starts, and a checkout is accepted.
    let api = spawn_api_with(
        &[
            "--database-url",
            &bouncer.url("session"),
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--checkout-wait-ms",
            "100",
        ],
        &[],
    )
    .await;
    let posted = post_checkout(
        &reqwest::Client::new(),
        &api.base_url,
        "pooled@example.com",
        "pooled-1",
    )
    .await;
    assert_eq!(posted.status, 202, "{:?}", posted.body);

    crate::report!(
        "[faults/pooler] transaction mode refused by api, worker, reconcile in {} ms; session mode: checkout {}",
        refused_in.as_millis(),
        posted.status
    );
    drop(api);
    drop(bouncer);
    pool.close().await;
    drop_database(&db).await;
}
