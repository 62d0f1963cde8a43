//! The reconciler: sweeps for paid orders without jobs, missed payments and lost checkouts.

use clap::Parser;
use h2s_dispatch::{
    config::{DatabaseSettings, LogSettings, StripeSettings},
    reconcile::{ReconcileSettings, process},
    telemetry,
};

#[derive(Parser)]
#[command(about = "h2s-dispatch reconciler: one sweep (--once) or sweeps on --schedule")]
struct Cli {
    #[command(flatten)]
    db: DatabaseSettings,
    #[command(flatten)]
    stripe: StripeSettings,
    #[command(flatten)]
    reconcile: ReconcileSettings,
    #[command(flatten)]
    log: LogSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log.log_json);
    match run(cli).await {
        Ok(outcome) => std::process::ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("reconcile: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(mut cli: Cli) -> anyhow::Result<process::Outcome> {
    cli.db.read_secret_files()?;
    cli.stripe.read_secret_files()?;
    process::run(cli.db, cli.stripe, cli.reconcile).await
}
