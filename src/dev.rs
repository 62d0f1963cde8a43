//! `api --dev`: the whole system in one process on a developer's machine. Compiled only with
//! the `dev` feature (the default), which brings in the `stripe-standin` crate.

use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use stripe_standin::{StandIn, StandInConfig, WebhookTarget};
use tokio::task::JoinHandle;

use crate::{
    app::{Application, Stop, shutdown_signal},
    checkout::request::{ReturnUrl, UrlDefaults},
    config::{ApiSettings, OutboxSettings, StripeSettings, WorkerSettings},
    db,
    stripe::StripeClientConfig,
};

/// `settings` read and checked as `api` reads them; `outbox` the worker's own section.
pub async fn run(mut settings: ApiSettings, outbox: OutboxSettings) -> anyhow::Result<()> {
    let banner = "DEV MODE: worker and reconciler in-process; NOT FOR PRODUCTION";
    tracing::warn!("{banner}");
    eprintln!("\n  *** {banner} ***\n");
    // The worker as `worker` runs it, on the api's sections and its own.
    let worker = WorkerSettings::beside(&settings, outbox);
    let pool = db::connect_target(&worker.database(8)).await?;

    let (stripe_config, sandbox) = stripe_or_sandbox(&settings.process.stripe).await?;
    sandbox_return_urls(&mut settings.checkout_urls.defaults, sandbox.as_ref())?;
    let app = build_app(&pool, settings, &stripe_config, sandbox.as_ref()).await?;

    let stop = Stop::default();
    let reconciler_task = spawn_reconciler(pool.clone(), &stripe_config, &stop)?;
    let worker_task = tokio::spawn(crate::worker::run(
        pool.clone(),
        crate::worker::WorkerConfig::new(Arc::new(worker), stripe_config, "dev-worker"),
        stop.clone(),
    ));
    eprintln!("  try it: curl -s localhost:{}/healthz\n", app.port());
    let server = tokio::spawn(app.run(stop.stopped()));
    shutdown_signal().await;
    stop.stop();
    server.await??;
    worker_task.await??;
    reconciler_task.await??;
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(())
}

/// The api in test mode, its webhook secret the configured one or a fresh one, and the
/// sandbox (when there is one) sending its signed webhooks to it.
async fn build_app(
    pool: &PgPool,
    mut settings: ApiSettings,
    stripe_config: &StripeClientConfig,
    sandbox: Option<&StandIn>,
) -> anyhow::Result<Application> {
    let http = &mut settings.http;
    let webhook_secret = http.stripe_webhook_secret.get_or_insert_with(|| {
        SecretString::from(format!("whsec_dev_{}", uuid::Uuid::new_v4().simple()))
    });
    // The sandbox signs with the first of the secrets given.
    let signing = crate::stripe::WebhookSecrets::parse(webhook_secret)
        .map(|s| s.first().clone())
        .context("STRIPE_WEBHOOK_SECRET holds no secret")?;
    // The sandbox is test mode: the key's mode, else the setting's, else test.
    let mode =
        crate::stripe::StripeMode::resolve(Some(&stripe_config.secret_key), http.stripe_mode)?;
    http.stripe_mode = Some(mode.unwrap_or(crate::stripe::StripeMode::Test));
    let app = Application::build(
        pool.clone(),
        Arc::new(settings),
        Some(stripe_config.clone()),
    )
    .await?;
    if let Some(sandbox) = sandbox {
        use secrecy::ExposeSecret;
        sandbox.set_webhook_target(WebhookTarget {
            url: format!("http://{}/api/stripe-webhook", app.local_addr()),
            secret: signing.expose_secret().to_owned(),
        });
    }
    Ok(app)
}

/// The configured return URLs, each one missing taken from the sandbox's own shop pages, so
/// that a checkout without `success_url`/`cancel_url` is answered in `--dev` (outside `--dev`,
/// or with a real Stripe key, a missing URL with no configured default stays a 400).
fn sandbox_return_urls(urls: &mut UrlDefaults, sandbox: Option<&StandIn>) -> anyhow::Result<()> {
    let Some(sandbox) = sandbox else {
        return Ok(());
    };
    let (thanks, cart) = sandbox.shop_return_urls();
    let page = |url: String| ReturnUrl::parse(&url).context("the sandbox's shop page URL");
    if urls.success_url.is_none() {
        urls.success_url = Some(page(thanks)?);
    }
    if urls.cancel_url.is_none() {
        urls.cancel_url = Some(page(cart)?);
    }
    Ok(())
}

/// The reconciler in-process, on its default schedule and options.
fn spawn_reconciler(
    pool: PgPool,
    stripe_config: &StripeClientConfig,
    stop: &Stop,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    Ok(tokio::spawn(crate::reconcile::run_scheduled(
        pool,
        crate::stripe::StripeHttp::new(stripe_config.clone())?,
        crate::reconcile::SweepOptions::default(),
        crate::reconcile::settings::parse_schedule(crate::reconcile::settings::DEFAULT_SCHEDULE)?,
        stop.stopped(),
        |report| tracing::info!("{report}"),
    )))
}

/// The configured Stripe, or without a real key a local Stripe sandbox, whose pay page sends
/// the signed webhook back to this process.
async fn stripe_or_sandbox(
    stripe: &StripeSettings,
) -> anyhow::Result<(StripeClientConfig, Option<StandIn>)> {
    if let Some(key) = &stripe.stripe_secret_key {
        return Ok((
            stripe.client_config(key.clone(), stripe.stripe_api_base.clone()),
            None,
        ));
    }
    let sandbox = StandIn::spawn(StandInConfig::default()).await?;
    let msg = format!(
        "DEV MODE: no STRIPE_SECRET_KEY; using the LOCAL STRIPE SANDBOX at {} (no real payments)",
        sandbox.base_url()
    );
    tracing::warn!("{msg}");
    eprintln!("  *** {msg} ***\n");
    Ok((
        stripe.client_config(
            SecretString::from("sk_test_local_sandbox"),
            sandbox.base_url(),
        ),
        Some(sandbox),
    ))
}
