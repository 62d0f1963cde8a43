//! The outbox worker: recipient, dispatch job, Stripe session, notifications; and the event
//! feed's delivery loop.

use std::sync::Arc;

use clap::Parser;
use h2s_dispatch::{
    app::{Stop, finish, serve_metrics},
    config::{WorkerSettings, require},
    db, telemetry,
    worker::{self, WorkerConfig},
};

/// mimalloc: the api's and worker's allocations are many and short-lived (a request's, a
/// task's); measured in BENCHMARKS.md against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "h2s-dispatch outbox worker")]
struct Cli {
    #[command(flatten)]
    settings: WorkerSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.process.log.log_json);
    finish("worker", run(cli.settings).await, |()| {
        std::process::ExitCode::SUCCESS
    })
}

async fn run(mut settings: WorkerSettings) -> anyhow::Result<()> {
    settings.read_secret_files()?;
    let stripe = &settings.process.stripe;
    let key = require(
        &stripe.stripe_secret_key,
        "--stripe-secret-key",
        "STRIPE_SECRET_KEY",
    )?;
    let stripe = stripe.client_config(key.clone(), stripe.stripe_api_base.clone());
    let pool = db::connect_target(&settings.database(4)).await?;
    // One signal stops the worker, its delivery loop and its metrics endpoint.
    let stop = Stop::on_signal();
    if let Some(addr) = settings.outbox.metrics_bind {
        let listener = serve_metrics(addr, pool.clone(), stop.stopped());
        tokio::spawn(async move {
            if let Err(e) = listener.await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    let config = WorkerConfig::new(Arc::new(settings), stripe, "worker");
    worker::run(pool, config, stop).await
}
