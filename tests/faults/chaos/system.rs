//! The system under test, on throwaway parts: a Postgres primary with a synchronous streaming
//! standby behind the fault suite's proxy, and the flags the apis, the workers and the
//! reconciler (on a 5 s cron) run with (`processes.rs` runs them).

use std::sync::{Arc, Mutex};

use crate::{
    failover::wait_streaming,
    helpers::{Cluster, WEBHOOK_SECRET},
    proxy::Proxy,
};

pub const ADMIN_TOKEN: &str = "chaos-admin-token";
pub const DATABASE: &str = "h2s_chaos";

/// The primary and its standby; the proxy leads to the primary.
pub struct Db {
    pub proxy: Proxy,
    pub nodes: Mutex<(Arc<Cluster>, Arc<Cluster>)>,
}

impl Db {
    /// A primary whose commits wait for a standby, the standby streaming, and the proxy in
    /// front of the primary.
    pub async fn start() -> Db {
        let primary = tokio::task::spawn_blocking(Cluster::init).await.unwrap();
        let admin = crate::helpers::pool(&format!("{}/postgres", primary.server_url())).await;
        // Nodes built from this one start with what `ALTER SYSTEM` wrote, not with the `-c`
        // options this one was started with: the same connection limit, and synchronous.
        for sql in [
            "ALTER SYSTEM SET max_connections = 200",
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
            "SELECT pg_reload_conf()",
        ] {
            sqlx::query(sql).execute(&admin).await.expect(sql);
        }
        admin.close().await;
        let primary = Arc::new(primary);
        let p = primary.clone();
        let standby = tokio::task::spawn_blocking(move || p.standby())
            .await
            .unwrap();
        wait_streaming(&primary.server_url(), 1).await;
        Db {
            proxy: Proxy::start(primary.port).await,
            nodes: Mutex::new((primary, Arc::new(standby))),
        }
    }

    /// The database the processes use, through the proxy.
    pub fn url(&self) -> String {
        format!("{}/{DATABASE}", self.proxy.server_url())
    }
}

pub fn api_flags(bind: &str) -> Vec<&str> {
    vec![
        "--stripe-webhook-secret",
        WEBHOOK_SECRET,
        "--admin-token",
        ADMIN_TOKEN,
        "--checkout-wait-ms",
        "1000",
        "--request-timeout-ms",
        "4000",
        "--event-endpoints-allow-private",
        "--bind",
    ]
    .into_iter()
    .chain([bind])
    .collect()
}

pub fn worker_flags(stripe: &str) -> Vec<&str> {
    vec![
        "--stripe-secret-key",
        "sk_test_chaos",
        "--stripe-api-base",
        stripe,
        "--concurrency",
        "8",
        "--stripe-timeout-ms",
        "1500",
        "--retry-base-ms",
        "100",
        "--retry-cap-ms",
        "2000",
        "--task-timeout-ms",
        "5000",
        "--event-endpoints-allow-private",
        "--event-delivery-timeout-ms",
        "2000",
    ]
}

pub fn reconcile_flags(stripe: &str) -> Vec<&str> {
    vec![
        "--stripe-secret-key",
        "sk_test_chaos",
        "--stripe-api-base",
        stripe,
        "--stripe-timeout-ms",
        "1500",
        "--schedule",
        "*/5 * * * * *",
        "--stale-after",
        "10s",
        "--requeue-after",
        "10s",
        "--expiry-grace",
        "10s",
        "--revive-after",
        "5s",
    ]
}
