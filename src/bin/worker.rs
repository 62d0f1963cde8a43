//! The outbox worker: recipient, dispatch job, Stripe session, notifications; and the event
//! feed's delivery loop.

use clap::Parser;
use h2s_dispatch::{
    app::{Stop, finish, run_worker, serve_metrics},
    config::{ProcessSettings, WorkerSettings, require},
    db,
    events::delivery::{self, DeliverySettings},
    telemetry,
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
    // One signal stops both the worker and its metrics endpoint.
    let stop = Stop::on_signal();
    if let Some(addr) = cli.worker.metrics_bind {
        let listener = serve_metrics(addr, pool.clone(), stop.stopped());
        tokio::spawn(async move {
            if let Err(e) = listener.await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    // The event feed's deliveries run beside the outbox, on their own connections and
    // tasks: a backlog or a dead endpoint there never holds an outbox task up.
    let deliveries = tokio::spawn(delivery::run(
        pool.clone(),
        cli.delivery.config(cli.worker.event_endpoints()),
        stop.stopped(),
    ));
    let outbox = run_worker(pool, config, stop.stopped()).await;
    stop.stop();
    deliveries.await??;
    outbox
}
