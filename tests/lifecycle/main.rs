//! Issue 13: the invariant proved by model. Random histories of 1-3 orders (checkouts with and
//! without `Idempotency-Key`, worker steps that may die at a chosen point, Stripe faults,
//! payments, delayed payments, expiries, webhooks held back, repeated and reordered, sweeps,
//! admin retries) run against the real system on a fresh database, and after every operation
//! the database must say what the reference model (`model.rs`, no I/O) says, and the invariant
//! query must return nothing. Each case ends by settling (Stripe healthy, the queue drained, a
//! sweep, drained again): then every order has what the contract promises.
//!
//! A failure shrinks to a short script, one operation a line, printed in the panic message;
//! paste it into `REGRESSIONS` so it runs in CI forever after. `PROPTEST_CASES=N` runs more
//! cases (README: "The lifecycle, by model").

mod model;
mod script;
mod system;
mod table;

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use model::{AtStripe, Model};
use script::Op;
use system::{System, Template};

/// Cases per CI run (README: "The lifecycle, by model"); `PROPTEST_CASES` overrides.
const CI_CASES: u32 = 48;
/// Operations per case, at most (before the settling ones).
const MAX_OPS: usize = 20;

/// Cases found by the property test (and shrunk), replayed on every run.
const REGRESSIONS: &[(&str, &str)] = &[(
    "an expired order paid after all has its one job ready again",
    "checkout
     step A
     expire A x1
     pay A paid x1",
)];

/// The operations that end every case: Stripe healthy, the queue drained, a sweep.
const SETTLE: [Op; 4] = [
    Op::Fault(None),
    Op::Drain,
    Op::Sweep { dry_run: false },
    Op::Drain,
];

fn runtime() -> tokio::runtime::Runtime {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "h2s_dispatch=debug".into()),
            )
            .with_test_writer()
            .try_init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs one case on a fresh system, in a runtime of its own (whatever the case spawned ends
/// with it); `Err` names the first disagreement, then the script of the operations that took
/// effect.
fn run_case(template: &Template, ops: &[Op]) -> Result<(), String> {
    let runtime = runtime();
    let mut script = Vec::new();
    let result = runtime.block_on(async {
        let mut system = System::start(template).await;
        let mut model = Model::default();
        let result = play(&mut system, &mut model, ops, &mut script).await;
        system.stop().await;
        result
    });
    runtime.shutdown_background();
    result.map_err(|e| {
        format!(
            "{e}\n--- the case, one operation a line (then it settles: stripe ok, drain, sweep, \
             drain) ---\n{}",
            script::render(&script)
        )
    })
}

async fn play(
    system: &mut System,
    model: &mut Model,
    ops: &[Op],
    script: &mut Vec<Op>,
) -> Result<(), String> {
    let settle = SETTLE.iter().map(|op| (op, true));
    for (op, settling) in ops.iter().map(|op| (op, false)).chain(settle) {
        let Some((printed, actions)) = model.resolve(*op) else {
            continue;
        };
        if !settling {
            script.push(printed);
        }
        let key = match op {
            Op::Checkout { key } => *key,
            _ => None,
        };
        let at = if settling {
            format!("settling: {printed}")
        } else {
            format!("line {} `{printed}`", script.len())
        };
        for action in actions {
            system
                .run(action, key)
                .await
                .map_err(|e| format!("at {at}: {e}"))?;
            model.apply(action, key);
        }
        compare(system, model)
            .await
            .map_err(|e| format!("after {at}: {e}"))?;
    }
    settled(system, model).await
}

/// The database against the model, order by order, and the invariant query.
async fn compare(system: &System, model: &Model) -> Result<(), String> {
    for (o, want) in model.orders.iter().enumerate() {
        let seen = system.seen(o).await;
        let name = (b'A' + o as u8) as char;
        let mismatch = |what: &str, want: String, seen: String| {
            Err(format!(
                "order {name} ({}): {what} is {seen}, the model says {want}",
                system.orders[o]
            ))
        };
        if seen.status != want.status {
            return mismatch("status", format!("{:?}", want.status), format!("{:?}", seen.status));
        }
        let want_job = want.job.map(|j| j.as_str().to_owned());
        if seen.job != want_job {
            return mismatch("the job's status", format!("{want_job:?}"), format!("{:?}", seen.job));
        }
        if seen.linked != want.job.is_some() {
            return mismatch("linked both ways", format!("{}", want.job.is_some()), format!("{}", seen.linked));
        }
        if seen.session_stored != want.session_stored {
            return mismatch(
                "session stored",
                format!("{}", want.session_stored),
                format!("{}", seen.session_stored),
            );
        }
        if seen.checkout != want.checkout {
            return mismatch("the checkout task", format!("{:?}", want.checkout), format!("{:?}", seen.checkout));
        }
        if seen.notify != want.notify {
            return mismatch("the notification task", format!("{:?}", want.notify), format!("{:?}", seen.notify));
        }
        let jobs = system.jobs(o).await;
        if jobs > 1 {
            return mismatch("jobs", "at most 1".into(), jobs.to_string());
        }
        let sessions = system.stripe.sessions_created_for(system.orders[o].as_str());
        let fits = match want.at_stripe {
            AtStripe::No => sessions == 0,
            AtStripe::Maybe => sessions <= 1,
            AtStripe::Yes => sessions == 1,
        };
        if !fits {
            return mismatch("Stripe sessions", format!("{:?}", want.at_stripe), sessions.to_string());
        }
    }
    match system.invariant_violations().await {
        0 => Ok(()),
        n => Err(format!("the invariant query returns {n} order(s)")),
    }
}

/// After settling: the queue is drained, no checkout is left without its session, and the
/// invariant query returns nothing.
async fn settled(system: &System, model: &Model) -> Result<(), String> {
    let runnable = system.runnable_tasks().await;
    if runnable != 0 {
        return Err(format!("settled, yet {runnable} task(s) wait in the outbox"));
    }
    for (o, want) in model.orders.iter().enumerate() {
        let seen = system.seen(o).await;
        if seen.status == h2s_dispatch::orders::OrderStatus::PendingPayment && !seen.session_stored {
            return Err(format!("settled, yet order {} has no session", system.orders[o]));
        }
        if want.status == h2s_dispatch::orders::OrderStatus::Paid && seen.job.as_deref() != Some("ready") {
            return Err(format!("settled, yet paid order {} has job {:?}", system.orders[o], seen.job));
        }
    }
    match system.invariant_violations().await {
        0 => Ok(()),
        n => Err(format!("settled, yet the invariant query returns {n} order(s)")),
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CI_CASES)
}

#[test]
fn every_history_of_up_to_three_orders_keeps_the_model_and_the_invariant() {
    let runtime = runtime();
    let template = runtime.block_on(Template::create());
    let config = Config {
        cases: cases(),
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(&script::ops(MAX_OPS), |ops| {
        run_case(&template, &ops).map_err(TestCaseError::fail)
    });
    runtime.block_on(template.drop());
    eprintln!(
        "[lifecycle] {} cases in {:.1} s",
        config.cases,
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => panic!("{reason}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_regression_scripts_still_hold() {
    let runtime = runtime();
    let template = runtime.block_on(Template::create());
    let mut failures = Vec::new();
    for (name, text) in REGRESSIONS {
        if let Err(e) = run_case(&template, &script::parse(text)) {
            failures.push(format!("{name}: {e}"));
        }
    }
    runtime.block_on(template.drop());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
