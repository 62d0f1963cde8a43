//! The benchmark of issue 5, driven by `scripts/bench`: starts the release `api`, `worker` and
//! `reconcile` binaries as child processes on fresh databases, the Stripe stand-in in this
//! process, and `pgbench` as the physical baseline; prints one Markdown table.
//!
//! `cargo run --release --example bench -- --bin-dir target/release [--quick]`

mod cpu;
mod load;
mod procs;
mod queue;
mod sections;
mod webhook_sql;
mod wire;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "h2s-dispatch benchmark (issue 5)")]
struct Cli {
    /// Where the release `api`, `worker` and `reconcile` binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Postgres server URL (no database: each section creates its own).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,
    /// Sections to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "accept,e2e,drain,pickup,ratecap,webhook,sweep"
    )]
    sections: Vec<String>,
    /// Client counts of section 1.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    concurrencies: Vec<usize>,
    /// Seconds per measured run of section 1 (section 2 runs twice as long).
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// The worker's Stripe cap in section 2 (end to end). At 100 (= the offered rate) the
    /// limiter runs at 100 % utilisation and its queue, not the pipeline, sets the latency.
    #[arg(long, default_value_t = 1000)]
    e2e_max_rps: u32,
    /// Smaller runs, for trying the bench itself.
    #[arg(long)]
    quick: bool,
    /// Also write the table here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Child process logs.
    #[arg(long, default_value = "/tmp/h2s-bench-logs")]
    log_dir: PathBuf,
}

/// One line of the table.
pub struct Row {
    section: String,
    setting: String,
    figure: String,
    target: String,
    verdict: String,
}

impl Row {
    pub fn new(
        section: impl Into<String>,
        setting: impl Into<String>,
        figure: impl Into<String>,
        target: impl Into<String>,
        verdict: String,
    ) -> Row {
        Row {
            section: section.into(),
            setting: setting.into(),
            figure: figure.into(),
            target: target.into(),
            verdict,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} |",
            self.section, self.setting, self.figure, self.target, self.verdict
        )
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.log_dir)?;
    let env = procs::Env {
        bin_dir: cli.bin_dir.clone(),
        pg: cli.pg.clone(),
        log_dir: cli.log_dir.clone(),
    };
    let plan = sections::Plan {
        concurrencies: cli.concurrencies.clone(),
        e2e_max_rps: cli.e2e_max_rps,
        secs: if cli.quick { cli.secs.min(3) } else { cli.secs },
        quick: cli.quick,
    };
    let mut rows = Vec::new();
    let mut memory = sections::Memory::default();
    for section in &cli.sections {
        eprintln!("== {section}");
        let result = match section.as_str() {
            "accept" => sections::accept(&env, &plan).await,
            "e2e" => {
                let mut r = sections::end_to_end(&env, &plan, 0, &mut memory).await?;
                r.extend(sections::end_to_end(&env, &plan, 400, &mut memory).await?);
                r.extend(sections::memory(&memory));
                Ok(r)
            }
            "drain" => sections::drain(&env, &plan).await,
            "pickup" => queue::pickup(&env, &plan).await,
            // The pgbench baselines alone (drain and webhook sections run them too).
            "baselines" => queue::baselines(&env, &plan).await,
            "ratecap" => sections::rate_cap(&env, &plan).await,
            "webhook" => sections::webhook(&env, &plan).await,
            "sweep" => sections::sweep(&env, &plan).await,
            other => anyhow::bail!("unknown section {other}"),
        };
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("section {section} failed: {e:#}");
                rows.push(Row::new(
                    section.clone(),
                    "—",
                    format!("the section failed: {e:#}"),
                    "—",
                    "**FAILED**".into(),
                ));
            }
        }
    }
    let mut table =
        String::from("| section | setting | figures | target | verdict |\n|---|---|---|---|---|\n");
    for row in &rows {
        table.push_str(&row.line());
        table.push('\n');
    }
    print!("{table}");
    if let Some(out) = cli.out {
        std::fs::write(out, &table)?;
    }
    Ok(())
}
