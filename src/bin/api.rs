//! The HTTP API: checkout, order status, Stripe webhook, operations. `--dev` runs everything.

use std::sync::Arc;

use clap::Parser;
use h2s_dispatch::{
    app::{Application, finish, shutdown_signal},
    config::{ApiSettings, OutboxSettings, require},
    db, migrate, telemetry,
};

/// mimalloc: the api's and worker's allocations are many and short-lived (a request's, a
/// task's); measured in BENCHMARKS.md against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "h2s-dispatch HTTP API")]
struct Cli {
    /// Local development: worker and reconciler in-process, and a local Stripe sandbox when
    /// no STRIPE_SECRET_KEY is given. Never for production; builds without the `dev` feature
    /// (the production image) refuse it.
    #[arg(long)]
    dev: bool,
    /// Rehearse the migrations: run every pending one in one transaction, print what they
    /// would add, backfill, merge and leave invalid, roll back, and exit (0: they would
    /// succeed; 1: they would fail, and why). Changes nothing; needs only --database-url.
    #[arg(long, conflicts_with = "dev")]
    migrate_check: bool,
    #[command(flatten)]
    settings: ApiSettings,
    /// The worker's own section, for the worker `--dev` runs in-process.
    #[command(flatten)]
    dev_worker: OutboxSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.process.log.log_json);
    finish("api", run(cli).await, |()| std::process::ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Refused before anything is read or connected: one line, not a half-started process.
    #[cfg(not(feature = "dev"))]
    if cli.dev {
        anyhow::bail!(
            "--dev is not in this build (built without the `dev` feature, as the production \
             image is); run it from a checkout: cargo run --bin api -- --dev"
        );
    }
    let Cli {
        mut settings,
        mut dev_worker,
        ..
    } = cli;
    settings.read_secret_files()?;
    dev_worker.read_secret_files()?;
    if cli.migrate_check {
        // The rehearsal connects as every process does (TLS, pooler check) but never
        // creates the database: there is nothing to rehearse on a missing one.
        let mut target = settings.process.db.target(1);
        target.create_if_missing = false;
        let pool = db::connect(&target).await?;
        let report = migrate::check(&pool).await;
        pool.close().await;
        println!("{}", report?);
        return Ok(());
    }
    // Checked before anything connects.
    settings.check()?;
    #[cfg(feature = "dev")]
    if cli.dev {
        // The developer's local database is created when missing, as before.
        settings.process.db.create_database = true;
        return h2s_dispatch::dev::run(settings, dev_worker).await;
    }
    require(
        &settings.http.stripe_webhook_secret,
        "--stripe-webhook-secret",
        "STRIPE_WEBHOOK_SECRET",
    )?;
    let db = &settings.process.db;
    let pool = db::connect_target(&db.target(db.database_max_connections)).await?;
    let stripe = settings.process.stripe.configured();
    let app = Application::build(pool, Arc::new(settings), stripe).await?;
    app.run(shutdown_signal()).await
}
