//! Scenario 2 of issue 24: after the primary dies, the address (DNS, a proxy) still leads to
//! a read-only standby for a while, then to the promoted one. Connections opened in that
//! window stay on the read-only node, as they would in production: the processes must drop
//! them on their own. Nothing is written in the window, only 503s are answered, and
//! checkouts succeed again within 5 s of the switch, with no process restarted.

use std::{sync::Arc, time::Duration};

use crate::{
    failover::{processes, replicated, run_blocking, wait_streaming},
    helpers::*,
    load::{self, Load},
    proxy::Proxy,
};

const RATE_PER_SEC: u64 = 20;
const BEFORE_KILL: Duration = Duration::from_secs(2);
const STALE_WINDOW: Duration = Duration::from_secs(4);
const AFTER_SWITCH: Duration = Duration::from_secs(7);
const RECOVERY_BOUND: f64 = 5.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_address_to_a_read_only_standby_gets_503s_only_and_checkouts_resume_after_the_switch()
 {
    let _serial = crate::helpers::one_at_a_time().await;
    // Both standbys synchronous, so that the one promoted has every acknowledged checkout.
    let sync = vec!["synchronous_standby_names='ANY 2 (*)'".to_owned()];
    let (primary, mut standbys) = replicated(sync, 2).await;
    wait_streaming(&primary.server_url(), 2).await;
    let (stale, promoted) = (Arc::new(standbys.remove(0)), Arc::new(standbys.remove(0)));
    let proxy = Proxy::start(primary.port).await;
    let db = format!("{}/h2s_stale", proxy.server_url());
    let stripe = stripe_standin::StandIn::spawn(stripe_standin::StandInConfig::default())
        .await
        .expect("stand-in");
    let (mut api, mut worker) = processes(&db, &stripe).await;
    let (api_pid, worker_pid) = (api.proc.pid(), worker.pid());
    let http = reqwest::Client::new();

    let flow = Load::start(&api.base_url, RATE_PER_SEC, "stale");
    tokio::time::sleep(BEFORE_KILL).await;
    let primary = Arc::new(primary);
    let p = primary.clone();
    run_blocking(move || p.kill()).await.unwrap();
    proxy.switch_to(stale.port);
    proxy.cut();
    let window_from = flow.now();
    tokio::time::sleep(STALE_WINDOW / 2).await;
    let readyz_stale = http
        .get(format!("{}/readyz", api.base_url))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    tokio::time::sleep(STALE_WINDOW / 2).await;
    let p = promoted.clone();
    run_blocking(move || p.promote()).await.unwrap();
    // No cut: what was opened in the window stays on the read-only node.
    proxy.switch_to(promoted.port);
    let switched = flow.now();
    tokio::time::sleep(AFTER_SWITCH).await;
    let results = flow.stop().await;

    // Sent in the window and answered before the switch (a request still waiting for a
    // connection at the switch may rightly be taken by the promoted primary).
    let window: Vec<&load::Sent> = load::in_window(&results, window_from, switched)
        .filter(|s| s.at + s.posted.latency < switched)
        .collect();
    let window_acked = window.iter().filter(|s| s.acked()).count();
    let window_503 = window.iter().filter(|s| s.posted.status == 503).count();
    let window_emails: Vec<String> = window.iter().map(|s| s.email.clone()).collect();
    let unexpected = load::unexpected(&results, Duration::ZERO, Duration::MAX);
    let recover_s = load::seconds_to_recover(&results, switched);
    let acked = load::acked_ids(&results);
    let after = pool(&format!("{}/h2s_stale", promoted.server_url())).await;
    let present = load::present(&after, &acked).await;
    let written_in_window = load::orders_for(&after, &window_emails).await;
    let completed = wait_for_completion(&after, &acked, Duration::from_secs(60)).await;
    let readyz_after = http
        .get(format!("{}/readyz", api.base_url))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    let alive = api.proc.alive()
        && api.proc.pid() == api_pid
        && worker.alive()
        && worker.pid() == worker_pid;

    crate::report!(
        "[faults/stale_address] requests={} acknowledged={} lost={} 503s={} \
         window_requests={} window_503s={window_503} window_acknowledged={window_acked} \
         written_in_window={written_in_window} unexpected_answers={unexpected} \
         readyz_stale={readyz_stale} readyz_after={readyz_after} \
         seconds_to_recover={recover_s:.1} completed={completed} restarted_processes={}",
        results.len(),
        acked.len(),
        acked.len() as i64 - present,
        load::count_503(&results),
        window.len(),
        usize::from(!alive),
    );

    assert!(
        !window.is_empty() && window_503 == window.len(),
        "only 503s in the window"
    );
    assert_eq!(written_in_window, 0, "nothing written in the window");
    assert_eq!(unexpected, 0, "only 2xx and 503 answers");
    assert_eq!(readyz_stale, 503, "not ready on a read-only node");
    assert!(
        recover_s <= RECOVERY_BOUND,
        "checkouts succeed again within {RECOVERY_BOUND} s of the switch, took {recover_s:.1} s \
         (api log: {})",
        api.proc.log.display()
    );
    assert_eq!(
        present,
        acked.len() as i64,
        "every acknowledged checkout is there"
    );
    assert_eq!(completed, acked.len() as i64, "and completes");
    assert_eq!(readyz_after, 200);
    assert!(alive, "no process was restarted");
    worker.terminate(Duration::from_secs(10));
    api.proc.terminate(Duration::from_secs(10));
    after.close().await;
}
