//! Failover as it really happens (issue 24): a throwaway primary with streaming standbys
//! (`pg_basebackup -R`), reached through a proxy that plays DNS or a virtual IP, under a
//! running checkout load against the real `api` and `worker`. Scenario 1: replication falls
//! behind (a second proxy stalls the standby's stream), the primary is killed
//! (`-m immediate`), the standby promoted: with synchronous replication nothing acknowledged
//! is lost; with asynchronous replication the loss is counted (and must be seen). Scenario 2
//! (a stale address to a read-only standby) is `stale_address.rs`. Scenario 3: after the
//! failover, checkouts are woken by the api's `LISTEN` connection on the new primary.

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

/// The api's checkout wait budget in the LISTEN scenario: a checkout whose pay link arrives
/// only at this deadline (its last look at the database) was not woken by a notification.
const LISTEN_WAIT_MS: u64 = 3_000;
/// A woken checkout answers well within the budget: its pay link arrives once the worker
/// has made the session (tens of ms on an idle box; BENCHMARKS.md), far below this.
const WOKEN_WITHIN: Duration = Duration::from_millis(2_000);
/// Checkouts sent after the first success, each of which must succeed.
const AFTER_RECOVERY: usize = 20;

/// A checkout succeeds only as the storefront needs it: a 200 with a pay link, in time.
fn succeeded(posted: &Posted) -> bool {
    posted.status == 200
        && posted.body["pay"]["session_url"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
        && posted.latency < WOKEN_WITHIN
}

/// Scenario 3: the api's `LISTEN` connection after a failover. Checkouts wait for the
/// worker's `NOTIFY` on that connection; one left dead (or on the old primary) hears
/// nothing, and every checkout would run to its deadline and answer late (202, or a 200
/// found at the last look). Only a 200 with a pay link within [`WOKEN_WITHIN`] counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_failover_every_checkout_is_woken_with_its_pay_link_so_the_apis_listen_follows_the_new_primary()
 {
    let _serial = crate::helpers::one_at_a_time().await;
    let (primary, mut standbys) = replicated(Vec::new(), 1).await;
    let standby = std::sync::Arc::new(standbys.remove(0));
    wait_streaming(&primary.server_url(), 1).await;
    let proxy = Proxy::start(primary.port).await;
    let db = format!("{}/h2s_failover_listen", proxy.server_url());
    let stripe = stripe_standin::StandIn::spawn(stripe_standin::StandInConfig::default())
        .await
        .expect("stand-in");
    let wait = LISTEN_WAIT_MS.to_string();
    let mut api = spawn_api(&db, &["--checkout-wait-ms", &wait]).await;
    let retry = ["--retry-base-ms", "100", "--retry-cap-ms", "1000"];
    let mut worker = spawn_worker(&db, &stripe.base_url(), &retry).await;
    let http = reqwest::Client::new();
    let base_url = api.base_url.clone();
    let post = |i: String| {
        let (http, base_url) = (http.clone(), base_url.clone());
        async move { post_checkout(&http, &base_url, &format!("{i}@example.com"), &i).await }
    };
    for i in 0..3 {
        let before = post(format!("listen-before-{i}")).await;
        assert!(succeeded(&before), "before the failover: {before:?}");
    }

    run_blocking(move || primary.kill()).await.unwrap();
    proxy.cut();
    let promoted = standby.clone();
    run_blocking(move || promoted.promote()).await.unwrap();
    proxy.switch_to(standby.port);
    let switched = std::time::Instant::now();
    let mut attempts = 0;
    let recovered = loop {
        attempts += 1;
        let posted = post(format!("listen-recover-{attempts}")).await;
        if succeeded(&posted) {
            break switched.elapsed();
        }
        assert!(
            switched.elapsed() < Duration::from_secs_f64(RECOVERY_BOUND) + WOKEN_WITHIN,
            "no checkout woken with its pay link since the switch: {posted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut after = Vec::with_capacity(AFTER_RECOVERY);
    for i in 0..AFTER_RECOVERY {
        after.push(post(format!("listen-after-{i}")).await);
    }
    let late: Vec<&Posted> = after.iter().filter(|p| !succeeded(p)).collect();
    let mut latencies: Vec<Duration> = after.iter().map(|p| p.latency).collect();
    latencies.sort();
    crate::report!(
        "[faults/failover_listen] recovered in {:.1} s ({attempts} attempts); after it {} \
         checkouts, {} not woken with a pay link in {WOKEN_WITHIN:?}; latency p50 {:?} max {:?}",
        recovered.as_secs_f64(),
        after.len(),
        late.len(),
        latencies[latencies.len() / 2],
        latencies.last().unwrap(),
    );
    assert!(late.is_empty(), "not woken after the recovery: {late:?}");
    worker.terminate(Duration::from_secs(10));
    api.proc.terminate(Duration::from_secs(10));
}
