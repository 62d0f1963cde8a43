//! Issue 13: the invariant proved by model. Random histories of 1-3 orders (checkouts with and
//! without `Idempotency-Key`, worker steps that may die at a chosen point, Stripe faults,
//! payments, delayed payments, expiries, webhooks held back, repeated and reordered, sweeps,
//! admin retries, the operator's refund requests and job actions of issue 26, and payments
//! held for capture after the visit of issue 34: captured when the job is completed, released
//! when it is cancelled, lapsed, paid again through a new payment link) run against the real
//! system on a fresh database, and after every operation
//! the database must say what the reference model (`model.rs`, no I/O) says, and the invariant
//! query must return nothing. Each case ends by settling (Stripe healthy, the queue drained, a
//! sweep, drained again): then every order has what the contract promises.
//!
//! A failure shrinks to a short script, one operation a line, printed in the panic message;
//! paste it into `REGRESSIONS` so it runs in CI forever after. `PROPTEST_CASES=N` runs more
//! cases (docs/explanation/model-testing.md).

mod hold;
mod job_table;
mod model;
mod operator;
mod operator_system;
#[path = "../common/outbox_steps.rs"]
mod outbox_steps;
mod script;
#[path = "../common/settings.rs"]
mod settings;
mod system;
mod table;
#[path = "../common/test_db.rs"]
mod test_db;

use std::{collections::BTreeMap, sync::Mutex};

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use model::{AtStripe, Model};
use script::Op;
use system::{System, Template};

/// Cases per CI run (docs/explanation/model-testing.md); `PROPTEST_CASES` overrides.
const CI_CASES: u32 = 64;
/// Operations per case, at most (before the settling ones); `LIFECYCLE_MAX_OPS` overrides.
const MAX_OPS: usize = 24;

/// Cases found by the property test (shrunk), and a few written by hand; replayed on every
/// run. A script: one operation a line (`script.rs`); the settling operations follow.
const REGRESSIONS: &[(&str, &str)] = &[
    (
        // Found with the revival of a `cancelled` job removed from `dispatch::ensure_job`
        // (the paid-after-expired defect of issue 9): the 11th case, shrunk in 39 runs (48
        // cases then; the generator reaches this history in about 1 case in 11).
        "an expired order paid after all has its one job ready again",
        "checkout
         step A
         expire A x1
         pay A paid x1",
    ),
    (
        // Found with a Stripe idempotency key that changes per attempt: the 23rd case,
        // shrunk in 36 runs (two sessions at Stripe once the step runs again).
        "a step that dies after its Stripe call leaves the order one session, not two",
        "checkout
         step A crash after-stripe-call",
    ),
    (
        // Catches `transition::next` letting `expired` leave `paid` (as does the documented
        // table's test); random cases reach this history in only about 1 in 50.
        "a late expiry never takes a paid order back",
        "checkout
         step A
         expire A x0
         pay A paid x1
         deliver A#0
         sweep",
    ),
    (
        // Found by the seeded chaos run (issue 36, seeds 2, 3 and 4): the close of a lost
        // dispute delivered before its opening left a scheduled visit scheduled, where the
        // same two events in order cancel it.
        "a lost dispute's close read before its opening cancels a scheduled visit",
        "checkout
         step A
         pay A paid x1
         job A schedule
         dispute A x0
         close-dispute A lost x1
         deliver A#1
         sweep",
    ),
    (
        "a call that timed out and lands later is replayed, not doubled",
        "checkout
         stripe timeout
         step A
         stripe ok
         step A",
    ),
    (
        "a task killed by crashes is revived by an admin retry, then by a sweep",
        "checkout
         step A crash before-job
         step A crash after-stripe-call
         admin retry A
         step A crash after-storing
         step A crash before-job
         sweep",
    ),
    (
        "a delayed payment held back, repeated and reordered pays once",
        "checkout key-0
         checkout key-0
         step A
         pay A unpaid x0
         async A succeeded x2
         deliver A#0
         deliver A#1
         sweep dry-run
         sweep",
    ),
    (
        // Issue 17: the refund's events reach the system before the payment's.
        "a refund seen before the webhook of payment still ends refunded, never paid",
        "checkout
         step A
         pay A paid x0
         refund A full x1
         deliver A#0
         sweep",
    ),
    (
        "a partial refund records its amount; a dispute won leaves the order paid, its job ready",
        "checkout
         step A
         pay A paid x1
         refund A partial x1
         dispute A x1
         close-dispute A won x1",
    ),
    (
        "a dispute's close seen before its opening decides, and the late opening changes nothing",
        "checkout
         step A
         pay A paid x1
         dispute A x0
         close-dispute A lost x1
         deliver A#1
         sweep",
    ),
    (
        "a dispute before the payment's webhook holds the job once the payment is known",
        "checkout
         step A
         pay A unpaid x0
         async A succeeded x0
         dispute A x2
         deliver A#1
         drain
         deliver A#0",
    ),
    (
        // Issue 26: a refund that would call a booked visit off is refused without the
        // override; with it, the visit is cancelled at once and the money goes back once,
        // whether its events come after the worker's answer or never.
        "an operator's full refund of a scheduled job needs the override and ends refunded once",
        "checkout
         step A
         pay A paid x1
         job A schedule
         operator-refund A full
         operator-refund A full cancel
         drain
         deliver A#2
         deliver A#1
         sweep",
    ),
    (
        // Stripe refuses the operator's refund (charge_already_refunded: the dashboard
        // refunded everything meanwhile): the request fails, the order follows the dashboard.
        "an operator's refund refused by Stripe fails and the order follows what Stripe did",
        "checkout
         step A
         pay A paid x1
         operator-refund A partial
         refund A full x0
         drain
         deliver A#1
         deliver A#2
         operator-refund A partial
         sweep",
    ),
    (
        "a held scheduled job is not rescheduled; a won dispute gives it back; completed stays",
        "checkout
         step A
         pay A paid x1
         job A schedule
         dispute A x1
         job A schedule
         job A cancel
         close-dispute A won x1
         job A complete
         job A cancel
         operator-refund A full
         drain
         sweep",
    ),
    (
        "a visit an operator called off stays cancelled when the payment lands, and breaks nothing",
        "checkout
         step A
         pay A paid x0
         job A cancel
         deliver A#0
         operator-refund A partial
         operator-refund A full
         stripe 500
         drain
         sweep",
    ),
    (
        // Found by the property test: the sweep lists the dashboard refund's `refund.created`
        // (pending) after its `refund.updated` (succeeded) was delivered, and the late pending
        // took the succeeded refund out of the books; the operator's refund then summed to
        // its own 2,500 alone.
        "a refund's late `pending` never undoes its `succeeded`: both partial refunds count",
        "checkout
         step A
         pay A paid x2
         operator-refund A partial
         refund A partial x2
         sweep",
    ),
    (
        // Found by the property test (issue 34's run): a worker that dies after an attempt
        // Stripe failed never records the outage, so the attempt is spent as a crash's is
        // (the task dies at its limit, and a sweep revives it), not kept as an outage's.
        "a step that dies after an outage spends its attempt as a crash",
        "checkout
         stripe 500
         step A
         step A crash after-storing",
    ),
    (
        // Issue 34: the session's event before the hold's, the PaymentIntent read by the
        // worker; the capture's two events after its answer, reordered and repeated.
        "a held payment is authorized with its job ready and captured once when the job is done",
        "checkout manual
         step A
         pay A paid x0
         deliver A#2
         drain
         deliver A#1
         job A schedule
         job A complete
         job A complete
         drain
         deliver A#4
         deliver A#3
         deliver A#4
         sweep",
    ),
    (
        "a partial capture is all an operator's full refund gives back, and ends refunded",
        "checkout manual
         step A
         pay A paid x1
         job A schedule
         job A complete partial
         drain
         operator-refund A full
         drain
         sweep",
    ),
    (
        "a cancelled visit releases the hold with no refund; a late authorization changes nothing",
        "checkout manual
         step A
         pay A paid x1
         job A cancel
         drain
         deliver A#1
         operator-refund A full
         sweep",
    ),
    (
        // A lapse whose events are held back is learnt from the capture Stripe refuses; the
        // old PaymentIntent's late event finds no order; the new link's payment is held and
        // captured under its own attempt.
        "a lapsed hold, a new pay link paid, held again and captured; the old hold stays old",
        "checkout manual
         step A
         pay A paid x1
         job A schedule
         lapse A x0
         job A complete
         drain
         pay-link A
         pay-link A
         drain
         deliver A#3
         pay A paid x1
         job A complete
         drain
         sweep",
    ),
    (
        "an operator's refund of a held order asks a release, and a lapse that comes first wins",
        "checkout manual
         step A
         pay A paid x2
         operator-refund A partial
         lapse A x2
         drain
         sweep",
    ),
    (
        // Written by hand: before, the hold was released under a booked visit, and the
        // technician was still sent to a customer whose payment was let go.
        "a held order's refund under a booked visit needs the override, and cancels the visit",
        "checkout manual
         step A
         pay A paid x1
         job A schedule
         operator-refund A full
         operator-refund A full cancel
         drain
         sweep",
    ),
    (
        // Found by CI (case 2, shrunk in 56 runs): the model had a revived checkout task's
        // first attempt carry the order's inputs and ask Stripe, but a revival drops them;
        // the attempt reads the order and, its session stored, asks Stripe nothing.
        "a revived checkout task whose session is stored asks Stripe nothing",
        "checkout
         step A crash before-job
         step A crash after-storing
         stripe 500
         sweep
         step A",
    ),
];

/// Operations that took effect, by kind, over a run (printed, to see what the cases reach).
static REACHED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

fn reached(what: String) {
    *REACHED.lock().unwrap().entry(what).or_default() += 1;
}

/// The operations that end every case: Stripe healthy, the queue drained, a sweep.
const SETTLE: [Op; 4] = [
    Op::Fault(None),
    Op::Drain,
    Op::Sweep { dry_run: false },
    Op::Drain,
];

fn runtime() -> tokio::runtime::Runtime {
    test_db::init_logging();
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
    run_case_scripted(template, ops).0
}

/// [`run_case`], and the operations that took effect.
fn run_case_scripted(template: &Template, ops: &[Op]) -> (Result<(), String>, Vec<Op>) {
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
    let result = result.map_err(|e| {
        format!(
            "{e}\n--- the case, one operation a line (then it settles: stripe ok, drain, sweep, \
             drain) ---\n{}",
            script::render(&script)
        )
    });
    (result, script)
}

/// Proptest's shrinking works on the random operations, some of which resolve to others or
/// to nothing; this finishes the job on the script itself: drop one line at a time while the
/// case still fails. Returns the last failure and the runs it took.
fn minimise(template: &Template, failing: &[Op]) -> (String, u32) {
    let (Err(mut message), mut script) = run_case_scripted(template, failing) else {
        return ("the shrunk case passed when run again (flaky?)".into(), 1);
    };
    let mut runs = 1;
    let mut i = 0;
    while i < script.len() {
        let mut shorter = script.clone();
        shorter.remove(i);
        runs += 1;
        match run_case_scripted(template, &shorter) {
            (Err(m), s) if s.len() < script.len() => (message, script, i) = (m, s, 0),
            _ => i += 1,
        }
    }
    (message, runs)
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
            let kind: String = printed.to_string().split_whitespace().take(1).collect();
            reached(kind);
            if let Some(model::Action::PayAfterExpiry(_)) = actions.first() {
                reached("(paid after expiry)".into());
            }
        }
        let key = match op {
            Op::Checkout { key, .. } => *key,
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
    settled(system, model).await?;
    for order in &model.orders {
        reached(format!("(ended {})", order.status.as_str()));
    }
    Ok(())
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
            return mismatch(
                "status",
                format!("{:?}", want.status),
                format!("{:?}", seen.status),
            );
        }
        let want_job = want.job.map(|j| j.as_str().to_owned());
        if seen.job != want_job {
            return mismatch(
                "the job's status",
                format!("{want_job:?}"),
                format!("{:?}", seen.job),
            );
        }
        if seen.linked != want.job.is_some() {
            return mismatch(
                "linked both ways",
                format!("{}", want.job.is_some()),
                format!("{}", seen.linked),
            );
        }
        if seen.session_stored != want.session_stored {
            return mismatch(
                "session stored",
                format!("{}", want.session_stored),
                format!("{}", seen.session_stored),
            );
        }
        if seen.checkout != want.checkout {
            return mismatch(
                "the checkout task",
                format!("{:?}", want.checkout),
                format!("{:?}", seen.checkout),
            );
        }
        if seen.notify != want.notify {
            return mismatch(
                "the notification task",
                format!("{:?}", want.notify),
                format!("{:?}", seen.notify),
            );
        }
        if seen.notify_dispute != want.notify_dispute {
            return mismatch(
                "the dispute notification task",
                format!("{:?}", want.notify_dispute),
                format!("{:?}", seen.notify_dispute),
            );
        }
        let want_requests: Vec<String> = (want.requests.iter())
            .map(|r| r.status.as_str().to_owned())
            .collect();
        if seen.requests != want_requests {
            return mismatch(
                "the refund requests",
                format!("{want_requests:?}"),
                format!("{:?}", seen.requests),
            );
        }
        if seen.amount_refunded != want.books.amount_refunded {
            return mismatch(
                "the amount refunded",
                want.books.amount_refunded.to_string(),
                seen.amount_refunded.to_string(),
            );
        }
        if seen.pi_known != want.books.pi_known {
            return mismatch(
                "the PaymentIntent known",
                want.books.pi_known.to_string(),
                seen.pi_known.to_string(),
            );
        }
        let trimmed = |holds: &[model::HoldTasks]| {
            let last = holds
                .iter()
                .rposition(|h| *h != model::HoldTasks::default());
            holds[..last.map_or(0, |l| l + 1)].to_vec()
        };
        if trimmed(&seen.holds) != trimmed(&want.attempts) {
            return mismatch(
                "the holds' tasks (per payment attempt)",
                format!("{:?}", trimmed(&want.attempts)),
                format!("{:?}", trimmed(&seen.holds)),
            );
        }
        let jobs = system.jobs(o).await;
        if jobs > 1 {
            return mismatch("jobs", "at most 1".into(), jobs.to_string());
        }
        let sessions = system
            .stripe
            .sessions_created_for(system.orders[o].as_str());
        // One session per earlier payment attempt, and the current one's.
        let fits = match (want.at_stripe, sessions.checked_sub(want.old_sessions)) {
            (_, None) => false,
            (AtStripe::No, Some(now)) => now == 0,
            (AtStripe::Maybe, Some(now)) => now <= 1,
            (AtStripe::Yes, Some(now)) => now == 1,
        };
        if !fits {
            return mismatch(
                "Stripe sessions",
                format!("{:?}", want.at_stripe),
                sessions.to_string(),
            );
        }
    }
    let captured = model.orders.iter();
    let captured = captured.filter(|o| matches!(o.pi, model::Pi::Captured(_)));
    let (want, seen) = (captured.count(), system.stripe.total_captures());
    if want != seen {
        return Err(format!(
            "Stripe made {seen} capture(s), the model says {want}"
        ));
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
        return Err(format!(
            "settled, yet {runnable} task(s) wait in the outbox"
        ));
    }
    for (o, want) in model.orders.iter().enumerate() {
        let seen = system.seen(o).await;
        if seen.status == h2s_dispatch::orders::OrderStatus::PendingPayment && !seen.session_stored
        {
            return Err(format!(
                "settled, yet order {} has no session",
                system.orders[o]
            ));
        }
        // Ready, or the dispatcher's since (`scheduled`, `completed`, cancelled by an
        // operator): the model's own job, compared above, says which.
        let dispatched = want.operator_cancelled
            || matches!(seen.job.as_deref(), Some("scheduled" | "completed"));
        if want.status == h2s_dispatch::orders::OrderStatus::Paid
            && seen.job.as_deref() != Some("ready")
            && !dispatched
        {
            return Err(format!(
                "settled, yet paid order {} has job {:?}",
                system.orders[o], seen.job
            ));
        }
    }
    match system.invariant_violations().await {
        0 => Ok(()),
        n => Err(format!(
            "settled, yet the invariant query returns {n} order(s)"
        )),
    }
}

fn max_ops() -> usize {
    std::env::var("LIFECYCLE_MAX_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(MAX_OPS)
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
        max_shrink_iters: 400,
        failure_persistence: None,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config.clone());
    let ran = std::cell::Cell::new(0u32);
    let first_failure = std::cell::Cell::new(None);
    let result = runner.run(&script::ops(max_ops()), |ops| {
        ran.set(ran.get() + 1);
        let outcome = run_case(&template, &ops);
        if outcome.is_err() && first_failure.get().is_none() {
            first_failure.set(Some(ran.get()));
        }
        outcome.map_err(TestCaseError::fail)
    });
    let (mut ran, first_failure) = (ran.get(), first_failure.get());
    let result = result.map_err(|e| match e {
        TestError::Fail(_, ops) => {
            let (reason, runs) = minimise(&template, &ops);
            ran += runs;
            reason
        }
        other => other.to_string(),
    });
    runtime.block_on(template.drop());
    eprintln!(
        "[lifecycle] {ran} runs (cases and shrinking) in {:.1} s; operations that took \
         effect: {:?}",
        started.elapsed().as_secs_f64(),
        REACHED.lock().unwrap()
    );
    if let Err(reason) = result {
        panic!(
            "case {} failed; shrunk in {} more runs to:\n{reason}",
            first_failure.unwrap_or_default(),
            ran - first_failure.unwrap_or_default()
        );
    }
}

#[test]
fn the_regression_scripts_still_hold() {
    let runtime = runtime();
    let template = runtime.block_on(Template::create());
    let mut failures = Vec::new();
    for (name, text) in REGRESSIONS {
        let ops = script::parse(text);
        match run_case_scripted(&template, &ops) {
            (Err(e), _) => failures.push(format!("{name}: {e}")),
            // A line that no longer takes effect would make the script prove less.
            (Ok(()), took_effect) if took_effect != ops => failures.push(format!(
                "{name}: only these lines took effect:\n{}",
                script::render(&took_effect)
            )),
            (Ok(()), _) => {}
        }
    }
    runtime.block_on(template.drop());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// How often the generator reaches the histories that matter, by the model alone (no I/O):
/// `cargo test --test lifecycle -- --ignored --nocapture reach` while tuning weights.
#[test]
#[ignore]
fn reach() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = TestRunner::default();
    let (mut revived, mut downgradable, mut crashed_after_call) = (0, 0, 0);
    // Holds (issue 34): authorized, captured, released, lapsed, a new attempt, held again.
    let mut holds = [0u32; 6];
    // Money after a payment: refunded (in part or in full), disputed, a dispute closed.
    let mut money = [0u32; 3];
    let cases = 1_000;
    for _ in 0..cases {
        let ops = script::ops(max_ops())
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut model = Model::default();
        let mut was_expired = [false; 3];
        let (mut r, mut d, mut c) = (false, false, false);
        let mut h = [false; 6];
        let mut m = [false; 3];
        for op in ops.into_iter().chain(SETTLE) {
            let Some((_, actions)) = model.resolve(op) else {
                continue;
            };
            let key = match op {
                Op::Checkout { key, .. } => key,
                _ => None,
            };
            for action in actions {
                if let model::Action::Step(_, Some(script::Crash::AfterStripeCall)) = action {
                    c = true;
                }
                model.apply(action, key);
            }
            for (o, order) in model.orders.iter().enumerate() {
                use h2s_dispatch::orders::OrderStatus as S;
                let again = order.attempts.len() > 1;
                for (i, reached) in [
                    order.status == S::Authorized,
                    matches!(order.pi, model::Pi::Captured(_)) && order.status == S::Paid,
                    order.status == S::Released,
                    order.status == S::AuthorizationExpired,
                    again,
                    again && order.status == S::Authorized,
                ]
                .into_iter()
                .enumerate()
                {
                    h[i] |= reached;
                }
                m[0] |= order.books.amount_refunded > 0;
                m[1] |= order.books.dispute.is_some();
                m[2] |= order.books.dispute == Some(true);
                was_expired[o] |= order.status == h2s_dispatch::orders::OrderStatus::Expired;
                r |= was_expired[o] && order.status == h2s_dispatch::orders::OrderStatus::Paid;
                d |= order.status == h2s_dispatch::orders::OrderStatus::Paid
                    && order.events.iter().any(|e| {
                        !e.seen
                            && e.kind
                                == model::Kind::Session {
                                    payment:
                                        h2s_dispatch::orders::transition::PaymentEvent::Expired,
                                    names_pi: false,
                                }
                    });
            }
        }
        for (n, reached) in holds.iter_mut().zip(h) {
            *n += reached as u32;
        }
        for (n, reached) in money.iter_mut().zip(m) {
            *n += reached as u32;
        }
        revived += r as u32;
        downgradable += d as u32;
        crashed_after_call += c as u32;
    }
    eprintln!(
        "of {cases} cases: expired then paid {revived}; paid with an expiry not yet seen \
         {downgradable}; a crash after the Stripe call {crashed_after_call}; holds: \
         authorized {}, captured {}, released {}, lapsed {}, a new pay link {}, held again {}; \
         money: refunded {}, disputed {}, a dispute closed {}",
        holds[0], holds[1], holds[2], holds[3], holds[4], holds[5], money[0], money[1], money[2]
    );
}
