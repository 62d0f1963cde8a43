//! Failover as it really happens (issue 24): a throwaway primary with streaming standbys
//! (`pg_basebackup -R`), reached through a proxy that plays DNS or a virtual IP, under a
//! running checkout load against the real `api` and `worker`. Scenario 1: replication falls
//! behind (a second proxy stalls the standby's stream), the primary is killed
//! (`-m immediate`), the standby promoted: with synchronous replication nothing acknowledged
//! is lost; with asynchronous replication the loss is counted (and must be seen). Scenario 2
//! (a stale address to a read-only standby) is `stale_address.rs`.

use std::time::Duration;

use crate::{
    helpers::*,
    load::{self, Load},
    proxy::Proxy,
};

const RATE_PER_SEC: u64 = 20;
/// Load on the healthy primary before it is killed.
const BEFORE_KILL: Duration = Duration::from_secs(2);
/// How long the standby receives nothing before the primary dies.
const REPLICATION_BEHIND: Duration = Duration::from_millis(1500);
/// Load after the switch to the promoted standby.
const AFTER_SWITCH: Duration = Duration::from_secs(6);
/// Checkouts succeed again within this of the switch.
const RECOVERY_BOUND: f64 = 5.0;

/// A primary (with these `-c` options) and `standbys` streaming from it, once they stream.
pub async fn replicated(options: Vec<String>, standbys: usize) -> (Cluster, Vec<Cluster>) {
    tokio::task::spawn_blocking(move || {
        let primary = Cluster::init_with(ClusterConfig {
            options,
            ..ClusterConfig::default()
        });
        let standbys: Vec<Cluster> = (0..standbys).map(|_| primary.standby()).collect();
        (primary, standbys)
    })
    .await
    .expect("clusters")
}

/// Waits until `n` standbys stream from the primary at `url` (synchronous commits hang
/// until then).
pub async fn wait_streaming(url: &str, n: i64) {
    let admin = pool(&format!("{url}/postgres")).await;
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let streaming: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        .fetch_one(&admin)
        .await
        .expect("pg_stat_replication");
        if streaming >= n {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the standbys do not stream"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin.close().await;
}

/// The api and the worker on `db`, with the bounds the scenarios rely on.
pub async fn processes(db: &str, stripe: &stripe_standin::StandIn) -> (Api, Proc) {
    let api = spawn_api(db, &["--checkout-wait-ms", "500"]).await;
    let worker = spawn_worker(
        db,
        &stripe.base_url(),
        &[
            "--retry-base-ms",
            "100",
            "--retry-cap-ms",
            "1000",
            "--task-timeout-ms",
            "5000",
        ],
    )
    .await;
    (api, worker)
}

pub fn run_blocking(f: impl FnOnce() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(f)
}

/// Scenario 1: replication falls behind (its stream stalled), the primary is killed, the
/// standby promoted, the proxy switched. Asynchronous commits made meanwhile are lost;
/// synchronous ones are never acknowledged.
async fn primary_killed(synchronous: bool) -> (usize, i64, usize, f64, usize) {
    let options = if synchronous {
        vec!["synchronous_standby_names='*'".to_owned()]
    } else {
        Vec::new()
    };
    let primary = tokio::task::spawn_blocking(move || {
        Cluster::init_with(ClusterConfig {
            options,
            ..ClusterConfig::default()
        })
    })
    .await
    .expect("primary");
    let stream = Proxy::start(primary.port).await;
    let primary = std::sync::Arc::new(primary);
    let (p, stream_port) = (primary.clone(), stream.port);
    let standby = tokio::task::spawn_blocking(move || p.standby_via(stream_port))
        .await
        .expect("standby");
    let standby = std::sync::Arc::new(standby);
    wait_streaming(&primary.server_url(), 1).await;
    let proxy = Proxy::start(primary.port).await;
    let db = format!("{}/h2s_failover", proxy.server_url());
    let stripe = stripe_standin::StandIn::spawn(stripe_standin::StandInConfig::default())
        .await
        .expect("stand-in");
    let (mut api, mut worker) = processes(&db, &stripe).await;
    let (api_pid, worker_pid) = (api.proc.pid(), worker.pid());

    let flow = Load::start(&api.base_url, RATE_PER_SEC, "failover");
    tokio::time::sleep(BEFORE_KILL).await;
    stream.stall(true);
    tokio::time::sleep(REPLICATION_BEHIND).await;
    let p = primary.clone();
    run_blocking(move || p.kill()).await.unwrap();
    proxy.cut();
    let s = standby.clone();
    run_blocking(move || s.promote()).await.unwrap();
    proxy.switch_to(standby.port);
    let switched = flow.now();
    tokio::time::sleep(AFTER_SWITCH).await;
    let results = flow.stop().await;

    let acked = load::acked_ids(&results);
    let after = pool(&format!("{}/h2s_failover", standby.server_url())).await;
    let present = load::present(&after, &acked).await;
    let lost = acked.len() as i64 - present;
    let recover_s = load::seconds_to_recover(&results, switched);
    let unexpected = load::unexpected(&results, Duration::ZERO, Duration::MAX);
    let alive = api.proc.alive()
        && api.proc.pid() == api_pid
        && worker.alive()
        && worker.pid() == worker_pid;
    crate::report!(
        "[faults/failover_{}] requests={} acknowledged={} lost={lost} 503s={} \
         unexpected_answers={unexpected} seconds_to_recover={recover_s:.1} \
         restarted_processes={}",
        if synchronous { "sync" } else { "async" },
        results.len(),
        acked.len(),
        load::count_503(&results),
        usize::from(!alive),
    );
    assert!(alive, "no process was restarted");
    worker.terminate(Duration::from_secs(10));
    api.proc.terminate(Duration::from_secs(10));
    after.close().await;
    (
        acked.len(),
        lost,
        unexpected,
        recover_s,
        load::count_503(&results),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_synchronous_replication_every_acknowledged_checkout_survives_a_killed_primary_behind_on_replication()
 {
    let _serial = crate::helpers::one_at_a_time().await;
    let (acked, lost, unexpected, recover_s, refused) = primary_killed(true).await;
    assert!(acked > 0, "checkouts were acknowledged");
    assert_eq!(
        lost, 0,
        "synchronous replication loses no acknowledged checkout"
    );
    assert!(refused > 0, "the failover was seen as 503s");
    assert_eq!(unexpected, 0, "only 2xx and 503 answers");
    assert!(recover_s <= RECOVERY_BOUND, "recovered in {recover_s:.1} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_asynchronous_replication_a_killed_primary_loses_what_the_standby_had_not_received() {
    let _serial = crate::helpers::one_at_a_time().await;
    let (acked, lost, unexpected, recover_s, _) = primary_killed(false).await;
    // What was acknowledged while the standby received nothing is gone with the primary.
    assert!(acked > 0);
    assert!(
        lost > 0,
        "asynchronous commits acknowledged while replication lagged are lost"
    );
    assert_eq!(unexpected, 0, "only 2xx and 503 answers");
    assert!(recover_s <= RECOVERY_BOUND, "recovered in {recover_s:.1} s");
}
