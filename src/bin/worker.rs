//! The outbox worker: recipient, dispatch job, Stripe session, notifications.

use clap::Parser;
use h2s_dispatch::{
    app::{WorkerConfig, run_worker, shutdown_signal},
    config::{DatabaseSettings, LogSettings, StripeSettings, WorkerSettings, require},
    db,
    stripe::StripeClientConfig,
    telemetry,
};

#[derive(Parser)]
#[command(about = "h2s-dispatch outbox worker")]
struct Cli {
    #[command(flatten)]
    db: DatabaseSettings,
    #[command(flatten)]
    stripe: StripeSettings,
    #[command(flatten)]
    worker: WorkerSettings,
    #[command(flatten)]
    log: LogSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log.log_json);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let key = require(
        &cli.stripe.stripe_secret_key,
        "--stripe-secret-key",
        "STRIPE_SECRET_KEY",
    )?;
    let stripe = StripeClientConfig {
        secret_key: key.clone(),
        api_base: cli.stripe.stripe_api_base.clone(),
        timeout: cli.stripe.timeout(),
        max_rps: Some(cli.stripe.stripe_max_rps),
    };
    let pool = db::connect_and_migrate(
        &cli.db.database_url,
        cli.db
            .database_max_connections
            .max(cli.worker.concurrency as u32 + 4),
    )
    .await?;
    let config = WorkerConfig {
        stripe,
        notify_webhook_url: cli.worker.notify_webhook_url.clone(),
        runtime: cli.worker.runtime("worker"),
    };
    run_worker(pool, config, shutdown_signal()).await
}
