//! The HTTP API: checkout, order status, Stripe webhook, operations. `--dev` runs everything.

use clap::Parser;
use h2s_dispatch::{
    app::{Application, finish, shutdown_signal},
    config::{ApiSettings, CheckoutUrlSettings, ProcessSettings, WorkerSettings, require},
    db, migrate, telemetry,
};

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
    process: ProcessSettings,
    #[command(flatten)]
    api: ApiSettings,
    #[command(flatten)]
    worker: WorkerSettings,
    #[command(flatten)]
    checkout_urls: CheckoutUrlSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.process.log.log_json);
    finish("api", run(cli).await, |()| std::process::ExitCode::SUCCESS)
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    // Refused before anything is read or connected: one line, not a half-started process.
    #[cfg(not(feature = "dev"))]
    if cli.dev {
        anyhow::bail!(
            "--dev is not in this build (built without the `dev` feature, as the production \
             image is); run it from a checkout: cargo run --bin api -- --dev"
        );
    }
    cli.process.read_secret_files()?;
    cli.api.read_secret_files()?;
    cli.worker.read_secret_files()?;
    if cli.migrate_check {
        // The rehearsal connects as every process does (TLS, pooler check) but never
        // creates the database: there is nothing to rehearse on a missing one.
        let mut target = cli.process.db.target(1);
        target.create_if_missing = false;
        let pool = db::connect(&target).await?;
        let report = migrate::check(&pool).await;
        pool.close().await;
        println!("{}", report?);
        return Ok(());
    }
    // Checked before anything connects; `api_config` uses it.
    cli.api.request_timeout()?;
    let checkout_urls = cli.checkout_urls.defaults()?;
    #[cfg(feature = "dev")]
    if cli.dev {
        // The developer's local database is created when missing, as before.
        cli.process.db.create_database = true;
        return h2s_dispatch::dev::run(
            cli.process.db,
            cli.api,
            cli.process.stripe,
            cli.worker,
            checkout_urls,
        )
        .await;
    }
    let webhook_secret = require(
        &cli.api.stripe_webhook_secret,
        "--stripe-webhook-secret",
        "STRIPE_WEBHOOK_SECRET",
    )?
    .clone();
    let pool = db::connect_target(
        &cli.process
            .db
            .target(cli.process.db.database_max_connections),
    )
    .await?;
    let config = cli.api.api_config(
        webhook_secret,
        cli.process.stripe.configured(),
        &cli.worker,
        checkout_urls,
    )?;
    let app = Application::build(pool, config).await?;
    app.run(shutdown_signal()).await
}
