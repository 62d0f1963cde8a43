//! The Stripe stand-in as a process of its own, for `compose.yaml`'s local try (no Stripe
//! account): the worker and the reconciler point `STRIPE_API_BASE` at it, and its pay page
//! sends the signed `checkout.session.completed` back to the api. NOT FOR PRODUCTION: it
//! accepts any `sk_` key and takes no money.
//!
//! Settings (environment): `STANDIN_BIND` (default `0.0.0.0:12111`), `STANDIN_PUBLIC_URL`
//! (the base of the pay links a browser opens, default `http://localhost:12111`),
//! `STANDIN_WEBHOOK_URL` (the api's `/api/stripe-webhook`), and the webhook signing secret as
//! `STRIPE_WEBHOOK_SECRET` or `STRIPE_WEBHOOK_SECRET_FILE`.

use std::path::PathBuf;

use h2s_dispatch::{app::shutdown_signal, secrets::read_secret_file, telemetry};
use secrecy::ExposeSecret;
use stripe_standin::{StandIn, StandInConfig, WebhookTarget};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(false);
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let bind = env("STANDIN_BIND").unwrap_or_else(|| "0.0.0.0:12111".into());
    let public = env("STANDIN_PUBLIC_URL").unwrap_or_else(|| "http://localhost:12111".into());
    let secret = match (
        env("STRIPE_WEBHOOK_SECRET"),
        env("STRIPE_WEBHOOK_SECRET_FILE"),
    ) {
        (_, Some(path)) => read_secret_file(&PathBuf::from(path), "STRIPE_WEBHOOK_SECRET_FILE")?
            .expose_secret()
            .to_owned(),
        (Some(value), None) => value,
        (None, None) => anyhow::bail!("missing STRIPE_WEBHOOK_SECRET (or _FILE)"),
    };
    let webhook = env("STANDIN_WEBHOOK_URL").map(|url| WebhookTarget { url, secret });
    let standin = StandIn::spawn(StandInConfig {
        bind: Some(bind.parse()?),
        webhook,
        public_base_url: Some(public),
        ..StandInConfig::default()
    })
    .await?;
    tracing::warn!(
        addr = %standin.addr(),
        "LOCAL STRIPE STAND-IN: no real payments; never point production at it"
    );
    shutdown_signal().await;
    standin.shutdown().await;
    Ok(())
}
