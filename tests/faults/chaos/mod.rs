//! Issue 36: faults together, at random, replayable. One seed draws a plan (`plan.rs`): a
//! workload of customer stories and a nemesis of faults at random times, alone and
//! overlapping. The whole system runs on throwaway parts (`system.rs`); the workload
//! (`workload.rs`) and the nemesis (`nemesis.rs`) play the plan against it, every operation and
//! every fault going into a history of JSON lines (`history.rs`); after the faults stop and a
//! final sweep (`settle.rs`), the checker (`checker.rs`, `feed_check.rs`, `answers.rs`)
//! judges the whole history and the final state, prints a summary table, and fails naming
//! the seed and the first operation that broke a promise.
//!
//! The same seed replays the same plan, byte for byte; the timing is real (processes,
//! Postgres, the network stack and the scheduler of a busy machine), so the interleaving of
//! operations and faults differs from one run to the next. A failing seed reproduces the
//! schedule, not necessarily the failure: run it a few times.
//!
//! `CHAOS_SEED`, `CHAOS_MINUTES`: the long run (`scripts/chaos --seed N --minutes M`).
//! `CHAOS_HISTORY`: where the history goes (default: a file in the temp dir, printed).

mod answers;
mod checker;
mod client;
mod feed;
mod feed_check;
mod history;
mod nemesis;
mod observer;
mod plan;
mod processes;
mod relay;
mod report;
mod settle;
mod steps;
mod system;
mod truth;
mod workload;

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use stripe_standin::{StandIn, StandInConfig, WebhookTarget};

use crate::{helpers::WEBHOOK_SECRET, report};
use checker::Findings;
use feed::{FLAKY_TYPES, Receiver};
use history::History;
use plan::Plan;
use processes::Processes;
use system::Db;

/// How long the system may take to settle after the faults stop.
const SETTLE: Duration = Duration::from_secs(120);

/// The parts of a running system the run and the checker hold.
struct Parts {
    db: Arc<Db>,
    stripe: Arc<StandIn>,
    processes: Processes,
    receivers: [Receiver; 2],
    relay: relay::Relay,
}

async fn start(history: &Arc<History>, seed: u64) -> Parts {
    let db = Arc::new(Db::start().await);
    let stripe = Arc::new(
        StandIn::spawn(StandInConfig::default())
            .await
            .expect("stand-in"),
    );
    let processes = Processes::new(&db.url(), &stripe.base_url());
    processes::supervise(Arc::new(processes.slots.clone()), history.clone());
    processes.start().await;
    let apis = processes.api_urls();
    let relay = relay::Relay::start(apis.clone(), history.clone(), seed).await;
    stripe.set_webhook_target(WebhookTarget {
        url: relay.url.clone(),
        secret: WEBHOOK_SECRET.to_owned(),
    });
    let receivers = [
        Receiver::start("healthy").await,
        Receiver::start("flaky").await,
    ];
    receivers[0].register(&apis[0], None).await;
    receivers[1].register(&apis[0], Some(&FLAKY_TYPES)).await;
    Parts {
        db,
        stripe,
        processes,
        receivers,
        relay,
    }
}

fn history_path(seed: u64) -> std::path::PathBuf {
    std::env::var("CHAOS_HISTORY")
        .map(Into::into)
        .unwrap_or_else(|_| {
            let name = format!(
                "h2s-chaos-seed{seed}-{}.jsonl",
                uuid::Uuid::new_v4().simple()
            );
            std::env::temp_dir().join(name)
        })
}

/// Runs the plan of `seed` for `run`, settles, checks; panics on any breach.
pub async fn chaos(seed: u64, run: Duration) {
    let _serial = crate::helpers::one_at_a_time().await;
    let plan = Plan::new(seed, run.as_millis() as u64);
    let history = Arc::new(History::create(history_path(seed)));
    let parts = start(&history, seed).await;
    history.note("plan", &plan);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let observer = observer::observe(
        parts.db.url(),
        parts.processes.api_urls(),
        history.clone(),
        stopped.clone(),
    );
    let verifier = feed_check::verify_as_they_come(parts.receivers.to_vec(), stopped);
    let (records, client) = play(&plan, &parts, &history, run).await;
    let pool = crate::helpers::pool(&parts.db.url()).await;
    let settled = settle(&parts, &pool, &records, &client).await;
    stop.send_replace(true);
    observer.await.expect("the observer");
    let verified = verifier.await.expect("the verifier");
    let findings = judge(settled, verified, &parts, &history, &pool, &records).await;
    let table = report::summary(&findings, &history, &plan, run, records.len());
    report!("{table}");
    history.note("summary", &findings.counts);
    let breaches: Vec<_> = findings
        .breaches
        .iter()
        .map(|b| (b.at_ms, &b.what))
        .collect();
    history.note("breaches", serde_json::json!({ "breaches": breaches }));
    history.flush();
    for slot in &parts.processes.slots {
        slot.stop_for_good();
    }
    pool.close().await;
    let Parts { db, .. } = parts;
    tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
    report::verdict(&findings, seed, run, &history);
}

/// The workload and the nemesis, together, from now; the stories' records.
async fn play(
    plan: &Plan,
    parts: &Parts,
    history: &Arc<History>,
    run: Duration,
) -> (Vec<workload::Record>, client::Client) {
    let begun = Instant::now();
    let deadline = begun + run + Duration::from_secs(30);
    let client = client::Client::new(parts.processes.api_urls(), history.clone(), deadline);
    let workload = workload::Workload {
        client: client.clone(),
        stripe: parts.stripe.clone(),
        seed: plan.seed,
    };
    let nemesis = Arc::new(nemesis::Nemesis::new(
        parts.db.clone(),
        Arc::new(parts.processes.slots.clone()),
        parts.stripe.clone(),
        parts.relay.mode.clone(),
        parts.receivers[1].clone(),
        history.clone(),
    ));
    let (records, ()) = tokio::join!(
        workload.run(plan.stories.clone(), begun),
        nemesis.run(plan.faults.clone(), begun)
    );
    (records, client)
}

/// The final sweeps, until the system is quiet.
async fn settle(
    parts: &Parts,
    pool: &sqlx::PgPool,
    records: &[workload::Record],
    client: &client::Client,
) -> settle::Settled {
    let busy = parts.relay.busy.clone();
    settle::settle(
        pool,
        &parts.db.url(),
        &parts.stripe,
        client,
        &parts.receivers,
        records,
        move || busy.load(Ordering::SeqCst),
        SETTLE,
    )
    .await
}

/// Checks the history and the final state the settling reached.
async fn judge(
    settled: settle::Settled,
    verified: feed_check::Verified,
    parts: &Parts,
    history: &History,
    pool: &sqlx::PgPool,
    records: &[workload::Record],
) -> Findings {
    let mut findings = Findings {
        end_ms: history.now_ms(),
        ..Findings::default()
    };
    for (what, n) in &settled.moving {
        findings.at_end(format!("after the final sweep, still {n} {what}"));
    }
    if settled.sweep != Some(0) {
        findings.at_end(format!("the final sweep exited with {:?}", settled.sweep));
    }
    for (name, n) in &settled.replayed {
        let what = format!("feed deliveries replayed by the operator to {name}");
        findings.count(&what, *n);
    }
    check(&mut findings, history, parts, pool, records).await;
    feed_check::check_feed(&mut findings, pool, &parts.receivers, verified).await;
    findings
}

async fn check(
    f: &mut Findings,
    history: &History,
    parts: &Parts,
    pool: &sqlx::PgPool,
    records: &[workload::Record],
) {
    let truth = truth::Truth::read(&parts.stripe.sessions(), &parts.stripe.events());
    checker::check_orders(f, &checker::orders(pool).await, records, &truth);
    checker::check_refunds(f, pool, &parts.stripe.refunds(), records).await;
    let faults = history.faults();
    answers::check_answers(f, &history.ops(), &faults);
    answers::check_deaths(f, &history.deaths.lock().unwrap(), &faults);
    for fault in &faults {
        let observed = if fault.kind.ends_with("_slow") {
            " (observed: the machine, not the nemesis)"
        } else {
            ""
        };
        f.count(&format!("faults {}{observed}", fault.kind), 1);
    }
}

/// The run the test command makes: seed 1, one minute of faults (about two minutes in all).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minute_of_seeded_faults_together_breaks_no_promise() {
    chaos(1, Duration::from_secs(60)).await;
}

/// `scripts/chaos --seed N --minutes M`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: scripts/chaos --seed N --minutes M runs it"]
async fn a_long_seeded_nemesis_run_breaks_no_promise() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let minutes: f64 = std::env::var("CHAOS_MINUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    chaos(seed, Duration::from_secs_f64(minutes * 60.0)).await;
}
