//! The processes under test (release binaries as children), fresh databases, memory readings.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use sqlx::PgPool;

pub const WEBHOOK_SECRET: &str = "whsec_bench_secret";

pub struct Env {
    pub bin_dir: PathBuf,
    /// Server URL without a database name.
    pub pg: String,
    pub log_dir: PathBuf,
}

impl Env {
    pub fn fresh_db_url(&self, what: &str) -> String {
        format!(
            "{}/bench_{what}_{}",
            self.pg.trim_end_matches('/'),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }

    /// Creates and migrates a database; returns a small pool on it.
    pub async fn fresh_db(&self, what: &str) -> anyhow::Result<(String, PgPool)> {
        let url = self.fresh_db_url(what);
        let pool = h2s_dispatch::db::connect_and_migrate(&url, 8).await?;
        Ok((url, pool))
    }

    pub async fn drop_db(&self, url: &str) {
        let Some((server, name)) = url.rsplit_once('/') else {
            return;
        };
        if let Ok(admin) = PgPool::connect(&format!("{server}/postgres")).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }

    fn spawn(&self, bin: &str, args: &[String]) -> anyhow::Result<Proc> {
        let exe = self.bin_dir.join(bin);
        let log = self.log_dir.join(format!(
            "{bin}-{}.log",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(&exe)
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("spawning {}", exe.display()))?;
        Ok(Proc { child, log })
    }

    pub async fn api(&self, db: &str, extra: &[&str]) -> anyhow::Result<(Proc, String)> {
        let port = free_port();
        let mut args: Vec<String> = [
            "--database-url",
            db,
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut proc = self.spawn("api", &args)?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                return Ok((proc, base));
            }
            if !proc.alive() || Instant::now() > end {
                bail!("the api did not start; see {}", proc.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn worker(&self, db: &str, stripe: &str, extra: &[&str]) -> anyhow::Result<Proc> {
        let mut args: Vec<String> = [
            "--database-url",
            db,
            "--stripe-secret-key",
            "sk_test_bench",
            "--stripe-api-base",
            stripe,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn("worker", &args)
    }

    pub fn has(&self, bin: &str) -> bool {
        self.bin_dir.join(bin).exists()
    }

    /// Runs `bin args` to its end; returns (exit code, stdout, wall time).
    pub fn run(&self, bin: &str, args: &[&str]) -> anyhow::Result<(i32, String, Duration)> {
        let started = Instant::now();
        let out = Command::new(self.bin_dir.join(bin))
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .output()
            .with_context(|| format!("running {bin}"))?;
        let elapsed = started.elapsed();
        if !out.stderr.is_empty() {
            let log = self.log_dir.join(format!("{bin}.stderr.log"));
            let _ = std::fs::write(log, &out.stderr);
        }
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            elapsed,
        ))
    }
}

pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Peak resident set size so far (`VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        status_kib(self.child.id(), "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `pgbench` on `db` with `script`; returns (tps, average latency in ms).
pub fn pgbench(
    db: &str,
    script: &Path,
    clients: usize,
    secs: u64,
) -> anyhow::Result<(f64, f64, String)> {
    let threads = clients.min(2).to_string();
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            &threads,
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(script)
        .arg(db)
        .output()
        .context("running pgbench (is it on PATH?)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let find = |prefix: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))?
            .split('=')
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let tps = find("tps").context("pgbench printed no tps")?;
    let lat = find("latency average").unwrap_or(f64::NAN);
    Ok((tps, lat, text))
}

/// Orders among `ids` that have both their dispatch job and their Stripe session.
pub async fn completed(pool: &PgPool, ids: &[String]) -> i64 {
    sqlx::query_scalar(
        r#"
        SELECT count(*) FROM h2s_orders
        WHERE order_id = ANY($1) AND dispatch_job_id IS NOT NULL AND stripe_session_id IS NOT NULL
        "#,
    )
    .bind(ids)
    .fetch_one(pool)
    .await
    .unwrap_or(-1)
}
