//! The schedule of a run, drawn from its seed before anything starts: which customer stories
//! begin when and what each does, and which faults the nemesis injects when, for how long.
//! The same seed gives the same plan, byte for byte (the run writes it first into the
//! history); the interleaving of real processes around it is up to the machine.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

/// The processes the nemesis may kill or stop: 2 apis, 3 workers, the reconciler.
pub const SLOTS: [&str; 6] = ["api0", "api1", "worker0", "worker1", "worker2", "reconcile"];

/// What a customer does once the checkout is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Payment {
    /// Never pays: the order stays pending.
    Abandon,
    /// The session expires.
    Expire,
    Pay,
    /// A delayed payment method, which then settles or fails.
    Delayed {
        succeeds: bool,
    },
}

/// One action after a payment, by the dispatcher, an operator or the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Step {
    Schedule,
    Complete,
    Cancel,
    /// A refund made in Stripe's dashboard (its events come as webhooks).
    DashboardRefund {
        full: bool,
    },
    /// `POST /api/admin/orders/{id}/refunds`.
    OperatorRefund {
        full: bool,
        cancel_job: bool,
    },
    /// A dispute opened, and closed a little later.
    Dispute {
        won: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Story {
    pub n: usize,
    pub at_ms: u64,
    /// The api it talks to first (a retry goes to the other one).
    pub api: usize,
    pub payment: Payment,
    pub steps: Vec<Step>,
    /// Pause between two of its steps.
    pub think_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FaultKind {
    /// `kill -9` of a process, restarted after the fault's duration.
    Kill(usize),
    /// SIGSTOP, SIGCONT after the duration.
    Stop(usize),
    /// The primary killed, the standby promoted, the proxy switched, a new standby built.
    Failover,
    /// Every database connection stalled through the proxy.
    Stall,
    /// Every database connection cut, again and again.
    Resets,
    /// Stripe answers 500s, 429s or hangs past the client's timeout.
    StripeErrors,
    StripeRateLimit,
    StripeTimeouts,
    /// Stripe's webhooks to the apis dropped, duplicated, delayed or reordered.
    WebhooksDropped,
    WebhooksDuplicated,
    WebhooksDelayed,
    WebhooksReordered,
    /// The flaky event-feed receiver fails (500) or stalls (answers after the timeout).
    ReceiverFails,
    ReceiverStalls,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill(_) => "kill",
            FaultKind::Stop(_) => "stop",
            FaultKind::Failover => "failover",
            FaultKind::Stall => "stall",
            FaultKind::Resets => "resets",
            FaultKind::StripeErrors => "stripe_5xx",
            FaultKind::StripeRateLimit => "stripe_429",
            FaultKind::StripeTimeouts => "stripe_timeouts",
            FaultKind::WebhooksDropped => "webhooks_dropped",
            FaultKind::WebhooksDuplicated => "webhooks_duplicated",
            FaultKind::WebhooksDelayed => "webhooks_delayed",
            FaultKind::WebhooksReordered => "webhooks_reordered",
            FaultKind::ReceiverFails => "receiver_fails",
            FaultKind::ReceiverStalls => "receiver_stalls",
        }
    }

    /// The process it is aimed at, if one.
    pub fn slot(self) -> Option<usize> {
        match self {
            FaultKind::Kill(s) | FaultKind::Stop(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub at_ms: u64,
    pub for_ms: u64,
    pub kind: FaultKind,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub seed: u64,
    pub run_ms: u64,
    pub stories: Vec<Story>,
    pub faults: Vec<Fault>,
}

/// Mean time between two stories, and between two faults.
const STORY_EVERY_MS: u64 = 450;
const FAULT_EVERY_MS: u64 = 2_500;
/// Nothing new starts this close to the end of the run: the last stories and faults end
/// inside it.
const QUIET_TAIL_MS: u64 = 12_000;
/// A failover's own rebuild takes seconds: the next one waits at least this.
const FAILOVER_GAP_MS: u64 = 25_000;

impl Plan {
    pub fn new(seed: u64, run_ms: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let last = run_ms.saturating_sub(QUIET_TAIL_MS);
        let mut stories = Vec::new();
        let mut at = 500;
        while at < last {
            stories.push(story(&mut rng, stories.len(), at));
            at += rng.random_range(STORY_EVERY_MS / 3..STORY_EVERY_MS * 5 / 3);
        }
        let mut faults: Vec<Fault> = Vec::new();
        let mut deck = Vec::new();
        let mut at = 3_000;
        while at < last {
            if let Some(f) = fault(&mut rng, &mut deck, at, &faults) {
                faults.push(f);
            }
            at += rng.random_range(FAULT_EVERY_MS / 3..FAULT_EVERY_MS * 5 / 3);
        }
        Plan {
            seed,
            run_ms,
            stories,
            faults,
        }
    }
}

fn story(rng: &mut StdRng, n: usize, at_ms: u64) -> Story {
    let payment = match rng.random_range(0..100) {
        0..10 => Payment::Abandon,
        10..20 => Payment::Expire,
        20..35 => Payment::Delayed {
            succeeds: rng.random_bool(0.7),
        },
        _ => Payment::Pay,
    };
    let paid = matches!(payment, Payment::Pay | Payment::Delayed { succeeds: true });
    let mut steps = Vec::new();
    if paid {
        let mut partials = 0;
        for _ in 0..rng.random_range(0..4) {
            let step = match rng.random_range(0..100) {
                0..30 => Step::Schedule,
                30..45 => Step::Complete,
                45..55 => Step::Cancel,
                55..70 => Step::DashboardRefund {
                    full: rng.random_bool(0.4),
                },
                70..88 => Step::OperatorRefund {
                    full: rng.random_bool(0.4),
                    cancel_job: rng.random_bool(0.3),
                },
                _ => Step::Dispute {
                    won: rng.random_bool(0.5),
                },
            };
            // Two partial refunds at most: a third could refund exactly what remains, which
            // calls the visit off as a full one does, and the checker keeps the two apart.
            let partial = matches!(
                step,
                Step::DashboardRefund { full: false } | Step::OperatorRefund { full: false, .. }
            );
            if partial && partials == 2 {
                continue;
            }
            partials += usize::from(partial);
            steps.push(step);
        }
    }
    Story {
        n,
        at_ms,
        api: rng.random_range(0..2),
        payment,
        steps,
        think_ms: rng.random_range(200..1_500),
    }
}

/// The kinds of fault, as cards: each deck holds every kind (kills three times, stops twice),
/// so that even a short run meets each kind once, in an order the seed shuffles.
const DECK: [u8; 17] = [0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

fn draw(rng: &mut StdRng, card: u8) -> (FaultKind, u64) {
    let slot = rng.random_range(0..SLOTS.len());
    match card {
        0 => (FaultKind::Kill(slot), rng.random_range(300..4_000)),
        1 => (FaultKind::Stop(slot), rng.random_range(500..5_000)),
        2 => (FaultKind::Failover, 0),
        3 => (FaultKind::Stall, rng.random_range(1_000..4_000)),
        4 => (FaultKind::Resets, rng.random_range(500..2_500)),
        5 => (FaultKind::StripeErrors, rng.random_range(2_000..8_000)),
        6 => (FaultKind::StripeRateLimit, rng.random_range(2_000..8_000)),
        7 => (FaultKind::StripeTimeouts, rng.random_range(2_000..6_000)),
        8 => (FaultKind::WebhooksDropped, rng.random_range(2_000..8_000)),
        9 => (
            FaultKind::WebhooksDuplicated,
            rng.random_range(2_000..8_000),
        ),
        10 => (FaultKind::WebhooksDelayed, rng.random_range(2_000..8_000)),
        11 => (FaultKind::WebhooksReordered, rng.random_range(2_000..8_000)),
        12 => (FaultKind::ReceiverFails, rng.random_range(2_000..10_000)),
        _ => (FaultKind::ReceiverStalls, rng.random_range(2_000..10_000)),
    }
}

/// The next fault at `at_ms`: the first card of the deck that may start now (a fresh
/// shuffled deck when it is empty), or none.
fn fault(rng: &mut StdRng, deck: &mut Vec<u8>, at_ms: u64, earlier: &[Fault]) -> Option<Fault> {
    if deck.is_empty() {
        deck.extend(DECK);
        for i in (1..deck.len()).rev() {
            deck.swap(i, rng.random_range(0..=i));
        }
    }
    for i in 0..deck.len() {
        let (kind, for_ms) = draw(rng, deck[i]);
        // Faults overlap freely, but one process has one fault at a time, and failovers are
        // spaced by the time a new standby takes to build.
        let busy = earlier.iter().any(|f| {
            let overlaps = at_ms < f.at_ms + f.for_ms + 1_000;
            (kind.slot().is_some() && f.kind.slot() == kind.slot() && overlaps)
                || (kind == FaultKind::Failover
                    && f.kind == FaultKind::Failover
                    && at_ms < f.at_ms + FAILOVER_GAP_MS)
        });
        if !busy {
            deck.remove(i);
            return Some(Fault {
                at_ms,
                for_ms,
                kind,
            });
        }
    }
    None
}

#[test]
fn a_minute_meets_every_kind_of_fault() {
    let plan = Plan::new(1, 60_000);
    let kinds: std::collections::BTreeSet<&str> =
        plan.faults.iter().map(|f| f.kind.name()).collect();
    assert_eq!(kinds.len(), 14, "{kinds:?}");
}

#[test]
fn the_same_seed_draws_the_same_plan_and_another_seed_another() {
    let a = serde_json::to_string(&Plan::new(7, 120_000)).unwrap();
    let b = serde_json::to_string(&Plan::new(7, 120_000)).unwrap();
    let c = serde_json::to_string(&Plan::new(8, 120_000)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}
