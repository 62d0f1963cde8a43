//! The outbox worker: recipient, dispatch job, Stripe session, notifications; and the event
//! feed's delivery loop.

use clap::Parser;
use h2s_dispatch::{
    app::{Stop, finish, serve_metrics},
    config::{DeliverySettings, ProcessSettings, WorkerSettings, require},
    db, telemetry, worker,
};

#[derive(Parser)]
#[command(about = "h2s-dispatch outbox worker")]
struct Cli {
    #[command(flatten)]
    process: ProcessSettings,
    #[command(flatten)]
    worker: WorkerSettings,
    #[command(flatten)]
    delivery: DeliverySettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.process.log.log_json);
    finish("worker", run(cli).await, |()| {
        std::process::ExitCode::SUCCESS
    })
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    cli.process.read_secret_files()?;
    cli.worker.read_secret_files()?;
    let key = require(
        &cli.process.stripe.stripe_secret_key,
        "--stripe-secret-key",
        "STRIPE_SECRET_KEY",
    )?;
    let stripe = cli
        .process
        .stripe
        .client_config(key.clone(), cli.process.stripe.stripe_api_base.clone());
    let pool = db::connect_target(
        &cli.process.db.target(
            cli.process
                .db
                .database_max_connections
                .max(cli.worker.concurrency as u32 + 4),
        ),
    )
    .await?;
    let config = cli.worker.worker_config(stripe, "worker");
    // One signal stops the worker, its delivery loop and its metrics endpoint.
    let stop = Stop::on_signal();
    if let Some(addr) = cli.worker.metrics_bind {
        let listener = serve_metrics(addr, pool.clone(), stop.stopped());
        tokio::spawn(async move {
            if let Err(e) = listener.await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    let deliveries = cli.delivery.config(cli.worker.event_endpoints());
    worker::run(pool, config, deliveries, stop).await
}
