//! Harness of the fault suite: fresh databases, the real `api` and `worker` binaries as child
//! processes (so that they can be SIGKILLed), the Stripe stand-in in the test process, and a
//! throwaway Postgres cluster for the restart scenario.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgPoolOptions};

pub const WEBHOOK_SECRET: &str = "whsec_fault_suite_secret";

/// Scenarios run one at a time even under a plain `cargo test` (they time answers and must
/// not fight over two CPUs): each holds this for its whole run.
/// (A tokio mutex: it is held across awaits, and works across the tests' runtimes.)
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A database URL on `cluster` with a fresh random name (the processes create it at start).
pub fn fresh_database_url(cluster: &str, prefix: &str) -> String {
    format!(
        "{}/{prefix}_{}",
        cluster.trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    )
}

/// The main cluster by default; `TEST_DATABASE_URL` (a server URL, no database) overrides it.
pub fn main_cluster() -> String {
    crate::test_db::server()
}

pub async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// Drops a test database (best effort: a failed test keeps nothing useful in it anyway).
pub async fn drop_database(url: &str) {
    let Some((server, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(admin) = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{server}/postgres"))
        .await
    {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("h2s-faults-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// A child process of the suite; killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// `exe args` with `env` added to the suite's environment (stdout and stderr to one log).
    pub fn spawn_with_env(name: &str, exe: &str, args: &[String], env: &[(&str, &str)]) -> Proc {
        let log = log_dir().join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(exe)
            .args(args)
            .env("RUST_LOG", "info,sqlx=warn,apalis=warn,apalis_core=warn")
            .env_remove("DATABASE_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {exe}: {e}"));
        Proc { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; waits up to `grace` for a clean exit and returns its code.
    pub fn terminate(&mut self, grace: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    /// Waits up to `deadline` for the process to exit on its own; its code, or `None`.
    pub async fn exit_code_within(&mut self, deadline: Duration) -> Option<i32> {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Still running (it was not restarted by anyone: same pid, no exit).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The API as a child process, once `/healthz` answers.
pub struct Api {
    pub proc: Proc,
    pub base_url: String,
}

/// Each scenario names a fresh database, which the processes create.
pub async fn spawn_api(database_url: &str, extra: &[&str]) -> Api {
    let mut args = vec![
        "--database-url",
        database_url,
        "--stripe-webhook-secret",
        WEBHOOK_SECRET,
        "--create-database",
    ];
    args.extend(extra);
    spawn_api_with(&args, &[]).await
}

/// The api with exactly these arguments (and `--bind`) and environment, once it is healthy.
pub async fn spawn_api_with(args: &[&str], env: &[(&str, &str)]) -> Api {
    let port = free_port();
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(["--bind".to_string(), format!("127.0.0.1:{port}")]);
    let mut proc = Proc::spawn_with_env("api", env!("CARGO_BIN_EXE_api"), &args, env);
    let base_url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base_url}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if !proc.alive() || Instant::now() > end {
            panic!("the api did not start:\n{}", proc.log_tail(30));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Api { proc, base_url }
}

/// The worker as a child process; panics if it exits at once (a bad flag, say).
pub async fn spawn_worker(database_url: &str, stripe_base: &str, extra: &[&str]) -> Proc {
    let mut args = vec![
        "--database-url",
        database_url,
        "--stripe-secret-key",
        "sk_test_fault_suite",
        "--stripe-api-base",
        stripe_base,
        "--create-database",
    ];
    args.extend(extra);
    spawn_worker_with(&args, &[]).await
}

/// The worker with exactly these arguments and environment.
pub async fn spawn_worker_with(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut proc = Proc::spawn_with_env("worker", env!("CARGO_BIN_EXE_worker"), &args, env);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        proc.alive(),
        "the worker exited at once:\n{}",
        proc.log_tail(20)
    );
    proc
}

pub fn checkout_body(email: &str) -> Value {
    json!({
        "__action": "create_checkout_session",
        "customer": {"email": email, "name": "Ann", "phone": "+15551234567"},
        "cart": [{"price_id": "price_123", "qty": 1}],
        "metadata": {"service_address": "123 Test St"},
        "success_url": "https://shop.example/thanks",
        "cancel_url": "https://shop.example/cart"
    })
}

/// What one checkout request got back.
#[derive(Debug, Clone)]
pub struct Posted {
    pub status: u16,
    pub order_id: Option<String>,
    pub body: Value,
    pub latency: Duration,
    /// The client gave up (timeout or connection error).
    pub transport_error: Option<String>,
}

pub async fn post_checkout(
    http: &reqwest::Client,
    base_url: &str,
    email: &str,
    key: &str,
) -> Posted {
    let started = Instant::now();
    let result = http
        .post(format!("{base_url}/api/shop"))
        .header("Idempotency-Key", key)
        .json(&checkout_body(email))
        .send()
        .await;
    match result {
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Posted {
                status,
                order_id: body["order_id"].as_str().map(str::to_owned),
                body,
                latency: started.elapsed(),
                transport_error: None,
            }
        }
        Err(e) => Posted {
            status: 0,
            order_id: None,
            body: Value::Null,
            latency: started.elapsed(),
            transport_error: Some(e.to_string()),
        },
    }
}

/// Orders, among `ids`, that have their dispatch job and their Stripe session.
pub async fn completed_among(pool: &PgPool, ids: &[String]) -> i64 {
    sqlx::query_scalar(
        r#"
        SELECT count(*) FROM h2s_orders o
        JOIN h2s_dispatch_jobs j ON j.job_id = o.dispatch_job_id AND j.order_id = o.order_id
        WHERE o.order_id = ANY($1) AND o.stripe_session_id IS NOT NULL
        "#,
    )
    .bind(ids)
    .fetch_one(pool)
    .await
    .unwrap_or(-1)
}

/// Waits until every order of `ids` has completed, or `deadline` passes; returns how many did.
pub async fn wait_for_completion(pool: &PgPool, ids: &[String], deadline: Duration) -> i64 {
    let end = Instant::now() + deadline;
    loop {
        let done = completed_among(pool, ids).await;
        if done == ids.len() as i64 || Instant::now() > end {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Orders with more than one dispatch job (the schema forbids it; the suite checks anyway).
pub async fn orders_with_two_jobs(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        r#"
        SELECT count(*) FROM (
            SELECT order_id FROM h2s_dispatch_jobs GROUP BY order_id HAVING count(*) > 1
        ) d
        "#,
    )
    .fetch_one(pool)
    .await
    .expect("duplicate jobs query")
}

/// Orders for which the stand-in created more than one Checkout Session.
pub fn orders_with_two_sessions(sessions: &[Value]) -> usize {
    let mut per_order = std::collections::HashMap::<String, usize>::new();
    for s in sessions {
        if let Some(id) = s["metadata"]["order_id"].as_str() {
            *per_order.entry(id.to_owned()).or_default() += 1;
        }
    }
    per_order.values().filter(|n| **n > 1).count()
}

/// Orders whose stored session is not the one (and only one) the stand-in made for them.
pub async fn sessions_mismatched(pool: &PgPool, sessions: &[Value]) -> i64 {
    let mut by_order = std::collections::HashMap::<String, String>::new();
    for s in sessions {
        if let (Some(o), Some(id)) = (s["metadata"]["order_id"].as_str(), s["id"].as_str()) {
            by_order.insert(o.to_owned(), id.to_owned());
        }
    }
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as(r#"SELECT order_id, stripe_session_id FROM h2s_orders"#)
            .fetch_all(pool)
            .await
            .expect("orders");
    rows.iter()
        .filter(|(o, s)| s.is_some() && by_order.get(o) != s.as_ref())
        .count() as i64
}

/// Rows in every table that a request could write to.
pub async fn rows_written(pool: &PgPool) -> i64 {
    let mut total = 0;
    for table in [
        "h2s_orders",
        "h2s_recipients",
        "h2s_dispatch_jobs",
        "h2s_stripe_events",
        "apalis.jobs",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("counting {table}: {e}"));
        total += n;
    }
    total
}

/// The error shape of the API: `{"ok": false, "error": {"code", "message"}}`.
pub fn is_error_shape(body: &Value) -> bool {
    body["ok"] == json!(false)
        && body["error"]["code"].is_string()
        && body["error"]["message"].is_string()
}

/// A throwaway cluster, the URL of a database on it (which the processes create), and a
/// Stripe stand-in: what the scenarios that change the server itself start from.
pub async fn throwaway_cluster_and_stripe() -> (Cluster, String, stripe_standin::StandIn) {
    let cluster = tokio::task::spawn_blocking(Cluster::init)
        .await
        .expect("cluster");
    let db = format!("{}/h2s_faults", cluster.server_url());
    let stripe = stripe_standin::StandIn::spawn(stripe_standin::StandInConfig::default())
        .await
        .expect("stand-in");
    (cluster, db, stripe)
}

/// A Postgres cluster of its own (initdb in a temp dir, run as `postgres`), for the scenario
/// that stops and starts the server. Stopped and removed on drop.
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    options: Vec<String>,
}

/// What a scenario changes in its cluster: files in the data directory (owned by
/// `postgres`, mode 0600: certificates and keys), `pg_hba.conf`, and `-c` server options.
#[derive(Default)]
pub struct ClusterConfig {
    pub files: Vec<(String, Vec<u8>)>,
    pub hba: Option<String>,
    pub options: Vec<String>,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL installation with pg_ctl")
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    pub fn init() -> Cluster {
        Cluster::init_with(ClusterConfig::default())
    }

    pub fn init_with(config: ClusterConfig) -> Cluster {
        let bin = pg_bin();
        let dir = std::env::temp_dir().join(format!("h2s-faults-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of {}", dir.display());
        }
        let d = dir.to_string_lossy().to_string();
        let out = as_postgres(
            &bin,
            "initdb",
            &["-D", &d, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut files = config.files;
        if let Some(hba) = config.hba {
            files.push(("pg_hba.conf".into(), hba.into_bytes()));
        }
        for (name, content) in &files {
            let path = dir.join(name);
            std::fs::write(&path, content).expect("cluster file");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if is_root() {
                let ok = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&path)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "chown of {}", path.display());
            }
        }
        let cluster = Cluster {
            dir,
            port: free_port(),
            bin,
            options: config.options,
        };
        cluster.start();
        cluster
    }

    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn start(&self) {
        let d = self.dir.to_string_lossy().to_string();
        let mut opts = format!(
            "-p {} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port
        );
        for o in &self.options {
            opts.push_str(&format!(" -c {o}"));
        }
        let log = format!("{d}/log");
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &d, "-o", &opts, "-l", &log, "-w", "-t", "60", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl stop -m fast`: open connections are terminated, as in a restart or failover.
    pub fn stop(&self) {
        let d = self.dir.to_string_lossy().to_string();
        let out = as_postgres(&self.bin, "pg_ctl", &["-D", &d, "-m", "fast", "-w", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Cluster {
    /// A streaming standby of this cluster (`pg_basebackup -R`, as `postgres`), started on a
    /// port of its own: read-only until [`Cluster::promote`].
    pub fn standby(&self) -> Cluster {
        self.standby_via(self.port)
    }

    /// [`Cluster::standby`], streaming through `port` (a proxy in front of this cluster).
    pub fn standby_via(&self, stream_from: u16) -> Cluster {
        let dir = std::env::temp_dir().join(format!("h2s-faults-pg-{}", uuid::Uuid::new_v4()));
        let d = dir.to_string_lossy().to_string();
        let port = self.port.to_string();
        let out = as_postgres(
            &self.bin,
            "pg_basebackup",
            &[
                "-D",
                &d,
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                // A fast checkpoint: a spread one can hold the copy back for minutes.
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A later line wins: the standby streams from `stream_from`.
        let conninfo =
            format!("\nprimary_conninfo = 'host=127.0.0.1 port={stream_from} user=postgres'\n");
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("postgresql.auto.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conninfo.as_bytes()))
            .expect("primary_conninfo");
        let standby = Cluster {
            dir,
            port: free_port(),
            bin: self.bin.clone(),
            options: Vec::new(),
        };
        standby.start();
        standby
    }

    /// `pg_ctl promote`: the standby takes writes once this returns.
    pub fn promote(&self) {
        let d = self.dir.to_string_lossy().to_string();
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &d, "-w", "-t", "60", "promote"],
        );
        assert!(
            out.status.success(),
            "pg_ctl promote: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in a crash.
    pub fn kill(&self) {
        let d = self.dir.to_string_lossy().to_string();
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &d, "-m", "immediate", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop -m immediate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.to_string_lossy().to_string();
        let _ = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &d, "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `p`-th percentile (0–100) of `values`, which it sorts (shared with the event feed's kit).
#[allow(unused_imports)]
pub use crate::event_feed::percentile;
