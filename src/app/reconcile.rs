//! The `reconcile` process: settings checked, database and Stripe client built, then one
//! sweep (`--once`) or sweeps on the schedule until SIGTERM/ctrl-c.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use anyhow::Context;

use crate::{
    config::{ReconcileSettings, require},
    db,
    reconcile::{SweepReport, run_scheduled, sweep_until},
    stop::{Stop, shutdown_signal},
    stripe::StripeHttp,
};

/// How the process ended, for its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every repair done (or the sweep skipped, or a scheduled run shut down): exit 0.
    Clean,
    /// `--once` and some repair failed: exit 3.
    RepairsFailed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::RepairsFailed => 3,
        }
    }
}

pub async fn run(settings: ReconcileSettings) -> anyhow::Result<Outcome> {
    let (db_settings, stripe, settings) = (
        &settings.process.db,
        &settings.process.stripe,
        &settings.sweep,
    );
    if settings.task_max_retries.is_some() {
        tracing::warn!("--task-max-retries is ignored: the worker's WORKER_MAX_RETRIES decides");
    }
    // Settings first: a missing one stops the process before it touches anything.
    let key = require(
        &stripe.stripe_secret_key,
        "--stripe-secret-key",
        "STRIPE_SECRET_KEY",
    )?;
    let schedule = settings.parsed_schedule()?;
    let options = settings.options();
    let client = StripeHttp::new(stripe.client_config(key.clone(), stripe.stripe_api_base.clone()))
        .context("building the Stripe client")?;
    // SIGTERM (a CronJob's pod evicted, systemd stopping the unit) stops a `--once` sweep
    // between two repairs: each repair is one transaction, so nothing is left half-made, and
    // the report says `interrupted` (exit 0: the next run does the rest). Listened for from
    // here on, so that a signal while connecting ends in the same report, not a kill.
    let stop = Arc::new(AtomicBool::new(false));
    if settings.once {
        let flag = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            flag.store(true, Ordering::Relaxed);
        });
    }
    // A sweep needs a few connections (the lock's is its own), not a worker's pool.
    let pool = db::connect_target(&db_settings.target(db_settings.database_max_connections.min(4)))
        .await?;
    let json = settings.json;
    if settings.once {
        let report = sweep_until(&pool, &client, &options, &stop).await?;
        print(&report, json);
        return Ok(if report.succeeded() {
            Outcome::Clean
        } else {
            Outcome::RepairsFailed
        });
    }
    // One signal stops both the sweeps and the metrics endpoint.
    let stopping = Stop::on_signal();
    if let Some(addr) = settings.metrics_bind {
        let server = crate::scrape::serve(addr, pool.clone(), stopping.stopped());
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    run_scheduled(pool, client, options, schedule, stopping.stopped(), |r| {
        print(r, json)
    })
    .await?;
    Ok(Outcome::Clean)
}

/// The report on stdout: one JSON object per sweep with `--json`, else the summary.
fn print(report: &SweepReport, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
}
