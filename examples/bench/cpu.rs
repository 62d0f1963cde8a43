//! What a measured run cost: CPU time of the process under test, of the Postgres backends
//! serving its database, of this driver (the load client and the in-process Stripe stand-in)
//! and of a process running beside (`/proc/<pid>/stat`, user + system), and commits
//! (`pg_stat_database`).

use std::{collections::HashMap, time::Duration};

use sqlx::PgPool;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
fn ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) a process has used, all its threads.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec())
}

/// The Postgres backends connected to `pool`'s database, by pid.
async fn backends(pool: &PgPool) -> HashMap<u32, f64> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    pids.into_iter()
        .filter_map(|p| {
            let pid = u32::try_from(p).ok()?;
            Some((pid, cpu_secs(pid)?))
        })
        .collect()
}

async fn commits(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .unwrap_or(0)
}

/// Readings at the start of a run, on a connection of its own (whose statistics it flushes
/// before it reads them).
pub struct Meter {
    pool: PgPool,
    process: Option<(u32, f64)>,
    beside: Option<(u32, f64)>,
    driver: f64,
    backends: HashMap<u32, f64>,
    commits: i64,
}

/// What the run cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// CPU seconds of the process under test.
    pub process_s: f64,
    /// CPU seconds of the database's backends (those alive at the end; one that ended during
    /// the run is not counted).
    pub postgres_s: f64,
    /// CPU seconds of this driver: the load client, and the stand-in where it answers.
    pub driver_s: f64,
    /// CPU seconds of the process running beside the one under test (the webhook's worker).
    pub beside_s: Option<f64>,
    /// Commits in the database, the meter's own reads taken out.
    pub commits: i64,
}

impl Usage {
    /// `process ms · postgres ms · driver ms` per unit, for the table.
    pub fn per(&self, units: f64, unit: &str) -> String {
        let ms = |s: f64| s * 1e3 / units.max(1.0);
        let beside = self
            .beside_s
            .map(|s| format!(", {:.3} ms beside", ms(s)))
            .unwrap_or_default();
        format!(
            "CPU per {unit}: {:.3} ms process, {:.3} ms Postgres, {:.3} ms driver{beside}",
            ms(self.process_s),
            ms(self.postgres_s),
            ms(self.driver_s)
        )
    }

    pub fn commits_per(&self, units: f64) -> f64 {
        self.commits as f64 / units.max(1.0)
    }
}

/// Starts measuring `pid` (if any), `beside` (if any), this driver and the database at `db`. With `BENCH_PG_STAT_STATEMENTS`
/// set, on a server that loads `pg_stat_statements` (with the extension created in its
/// `postgres` database), its counts are reset first: read them per statement after the run.
pub async fn start(db: &str, pid: Option<u32>, beside: Option<u32>) -> anyhow::Result<Meter> {
    if std::env::var_os("BENCH_PG_STAT_STATEMENTS").is_some()
        && let Some((server, _)) = db.rsplit_once('/')
    {
        let admin = PgPool::connect(&format!("{server}/postgres")).await?;
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&admin)
            .await?;
        admin.close().await;
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(db)
        .await?;
    let _ = sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&pool)
        .await;
    Ok(Meter {
        process: pid.and_then(|p| Some((p, cpu_secs(p)?))),
        beside: beside.and_then(|p| Some((p, cpu_secs(p)?))),
        driver: cpu_secs(std::process::id()).unwrap_or(0.0),
        backends: backends(&pool).await,
        commits: commits(&pool).await,
        pool,
    })
}

impl Meter {
    /// The meter's connection, for the caller's polling during the run (each statement one
    /// commit: count them for [`Meter::commits_since`]).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The CPU of the processes and backends so far, commits not yet counted (a process or
    /// backend that exited since the start counts what it had at the start only: read before
    /// stopping it).
    pub async fn cpu(&self) -> Usage {
        let since = |p: Option<(u32, f64)>| p.and_then(|(pid, at)| Some(cpu_secs(pid)? - at));
        let postgres_s = backends(&self.pool)
            .await
            .into_iter()
            .map(|(pid, now)| now - self.backends.get(&pid).copied().unwrap_or(0.0))
            .sum();
        Usage {
            process_s: since(self.process).unwrap_or(0.0),
            postgres_s,
            driver_s: since(Some((std::process::id(), self.driver))).unwrap_or(0.0),
            beside_s: since(self.beside),
            commits: 0,
        }
    }

    /// The run's cost, with `own_reads` statements of the caller's polling taken out of the
    /// commits. Commits are counted once every backend that made them has flushed its
    /// statistics: call after the processes under test closed their connections (a backend
    /// flushes at its exit), with `cpu` read before.
    pub async fn commits_since(&self, own_reads: i64) -> i64 {
        // A backend's counts reach the shared statistics at its exit or when idle, within a
        // second; the meter's own connection flushes with this.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let _ = sqlx::query("SELECT pg_stat_force_next_flush()")
            .execute(&self.pool)
            .await;
        // The meter's own statements: the start's backends read, the CPU's backends read,
        // the flush, and this read.
        let n = commits(&self.pool).await - self.commits - own_reads - 4;
        self.pool.close().await;
        n
    }
}
