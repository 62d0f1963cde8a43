//! `api --dev`: the whole system in one process on a developer's machine. Compiled only with
//! the `dev` feature (the default), which brings in the `stripe-standin` crate.

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use stripe_standin::{StandIn, StandInConfig, WebhookTarget};
use tokio::task::JoinHandle;

use crate::{
    app::{Application, Stop, shutdown_signal},
    checkout::request::{ReturnUrl, UrlDefaults},
    config::{ApiSettings, DatabaseSettings, StripeSettings, WorkerSettings},
    db,
    stripe::StripeClientConfig,
};

pub async fn run(
    db_settings: DatabaseSettings,
    api: ApiSettings,
    stripe: StripeSettings,
    worker: WorkerSettings,
    checkout_urls: UrlDefaults,
) -> anyhow::Result<()> {
    let banner = "DEV MODE: worker and reconciler in-process; NOT FOR PRODUCTION";
    tracing::warn!("{banner}");
    eprintln!("\n  *** {banner} ***\n");
    let pool = db::connect_target(
        &db_settings.target(
            db_settings
                .database_max_connections
                .max(worker.concurrency as u32 + 8),
        ),
    )
    .await?;

    let (stripe_config, sandbox) = stripe_or_sandbox(&stripe).await?;
    let checkout_urls = sandbox_return_urls(checkout_urls, sandbox.as_ref())?;
    let app = build_app(
        &pool,
        &api,
        &stripe_config,
        sandbox.as_ref(),
        &worker,
        checkout_urls,
    )
    .await?;

    let stop = Stop::default();
    let reconciler_task = spawn_reconciler(pool.clone(), &stripe_config, &stop)?;
    // The worker as `worker` runs it, its event deliveries on their defaults.
    let worker_task = tokio::spawn(crate::worker::run(
        pool.clone(),
        worker.worker_config(stripe_config, "dev-worker"),
        crate::events::delivery::DeliveryConfig::new(worker.event_endpoints()),
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
    api: &ApiSettings,
    stripe_config: &StripeClientConfig,
    sandbox: Option<&StandIn>,
    worker: &WorkerSettings,
    checkout_urls: UrlDefaults,
) -> anyhow::Result<Application> {
    let webhook_secret = api.stripe_webhook_secret.clone().unwrap_or_else(|| {
        SecretString::from(format!("whsec_dev_{}", uuid::Uuid::new_v4().simple()))
    });
    let mut config = api.api_config(
        webhook_secret,
        Some(stripe_config.clone()),
        worker,
        checkout_urls,
    )?;
    // The sandbox is test mode, and signs with the first of the secrets given.
    config
        .stripe_mode
        .get_or_insert(crate::stripe::StripeMode::Test);
    let signing = config
        .webhook_secret
        .as_ref()
        .map(|s| s.first().clone())
        .context("the api's config always carries its webhook secrets")?;
    let app = Application::build(pool.clone(), config).await?;
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
fn sandbox_return_urls(
    configured: UrlDefaults,
    sandbox: Option<&StandIn>,
) -> anyhow::Result<UrlDefaults> {
    let Some(sandbox) = sandbox else {
        return Ok(configured);
    };
    let (thanks, cart) = sandbox.shop_return_urls();
    let page = |url: String| ReturnUrl::parse(&url).context("the sandbox's shop page URL");
    Ok(UrlDefaults {
        success_url: match configured.success_url {
            Some(url) => Some(url),
            None => Some(page(thanks)?),
        },
        cancel_url: match configured.cancel_url {
            Some(url) => Some(url),
            None => Some(page(cart)?),
        },
    })
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
