//! The reconciler: sweeps for paid orders without jobs, missed payments and lost checkouts.

use clap::Parser;
use h2s_dispatch::{
    app::{finish, reconcile as process},
    config::ReconcileSettings,
    telemetry,
};

/// mimalloc: the api's and worker's allocations are many and short-lived (a request's, a
/// task's); measured in BENCHMARKS.md against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "h2s-dispatch reconciler: one sweep (--once) or sweeps on --schedule")]
struct Cli {
    #[command(flatten)]
    settings: ReconcileSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.process.log.log_json);
    finish("reconcile", run(cli).await, |outcome| {
        std::process::ExitCode::from(outcome.exit_code())
    })
}

async fn run(mut cli: Cli) -> anyhow::Result<process::Outcome> {
    cli.settings.process.read_secret_files()?;
    process::run(cli.settings).await
}
