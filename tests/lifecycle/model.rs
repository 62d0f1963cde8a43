//! The reference model: plain Rust, no I/O. What SPEC.md says each order's status, its
//! dispatch job's status, its session and its checkout task must be after each operation.
//! Written from the contract, not from the code: its transition rule is its own (the documented
//! table is what ties the code's `transition::next` to the contract).

use h2s_dispatch::{
    dispatch::JobStatus,
    orders::{OrderStatus, transition::PaymentEvent},
};

pub use crate::hold::{HoldTasks, Pi};
use crate::script::{Crash, Op, StripeFault};

/// `max_attempts` of every task row (the api's and the worker's policy): 1 try + 1 retry, so
/// that a few crashes kill a task and the revival paths (admin retry, the sweep) are reached.
pub const MAX_ATTEMPTS: i32 = 2;

/// The SPEC's lifecycle: money that arrived is never ignored and `paid` is never left but
/// by a dispute (`disputed`, until it closes: won back to `paid`, lost to `dispute_lost`) or a
/// refund of the whole amount (`refunded`); `refunded` and `dispute_lost` are the end,
/// whatever arrives late. A delayed payment method waits in `awaiting_payment`; an unpaid
/// order can fail or expire.
///
/// A hold (SPEC, "Pay after the visit"): an authorized order waits for its capture (then
/// `paid`), its release or its lapse; released and lapsed are the hold's end (a late
/// authorization changes nothing; a lapsed one pays again only through a new payment link,
/// which opens it as `pending_payment`). A hold never captured has no money to refund: an
/// older API version's refund object for its release moves nothing.
pub fn spec_next(status: OrderStatus, event: PaymentEvent) -> OrderStatus {
    use OrderStatus as S;
    use PaymentEvent as E;
    let unpaid = matches!(status, S::PendingPayment | S::AwaitingPayment);
    let hold_ended = matches!(status, S::Released | S::AuthorizationExpired);
    match event {
        _ if matches!(status, S::Refunded | S::DisputeLost) => status,
        E::Refunded if hold_ended || status == S::Authorized => status,
        E::Refunded => S::Refunded,
        E::DisputeLost => S::DisputeLost,
        E::DisputeWon if status == S::Disputed => S::Paid,
        _ if status == S::Disputed => S::Disputed,
        E::DisputeOpened => S::Disputed,
        _ if status == S::Paid => S::Paid,
        E::CompletedPaid | E::AsyncSucceeded | E::DisputeWon | E::Captured => S::Paid,
        E::NewPayLink if status == S::AuthorizationExpired => S::PendingPayment,
        E::Lapsed if unpaid || status == S::Authorized => S::AuthorizationExpired,
        E::Released if unpaid || status == S::Authorized => S::Released,
        _ if hold_ended || status == S::Authorized => status,
        E::Authorized if unpaid || matches!(status, S::Expired | S::PaymentFailed | S::Failed) => {
            S::Authorized
        }
        E::CompletedUnpaid if status == S::PendingPayment => S::AwaitingPayment,
        E::AsyncFailed if unpaid => S::PaymentFailed,
        E::Expired if unpaid => S::Expired,
        E::SessionRejected if status == S::PendingPayment => S::Failed,
        _ => status,
    }
}

/// The job status the SPEC implies for an order's status.
pub fn spec_job(status: OrderStatus) -> JobStatus {
    match status {
        OrderStatus::Paid | OrderStatus::Authorized => JobStatus::Ready,
        OrderStatus::Disputed | OrderStatus::AuthorizationExpired => JobStatus::OnHold,
        OrderStatus::Released => JobStatus::Cancelled,
        OrderStatus::PendingPayment | OrderStatus::AwaitingPayment => JobStatus::AwaitingPayment,
        OrderStatus::PaymentFailed
        | OrderStatus::Expired
        | OrderStatus::Failed
        | OrderStatus::Refunded
        | OrderStatus::DisputeLost => JobStatus::Cancelled,
    }
}

/// What an order costs (one `price_123`, the stand-in's price), and a partial refund (or
/// capture) of it.
pub const TOTAL: i64 = 10_000;
pub const PARTIAL: i64 = 2_500;

/// An outbox task as the queue holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Waiting to run (or to run again), with the attempts used and allowed.
    Live {
        attempts: i32,
        max: i32,
    },
    Done,
    /// Failed its last allowed attempt (or killed).
    Dead {
        attempts: i32,
        max: i32,
    },
}

impl Task {
    pub(crate) fn fresh() -> Task {
        Task::Live {
            attempts: 0,
            max: MAX_ATTEMPTS,
        }
    }

    /// An attempt that died with its process: one attempt spent, nothing else.
    fn crashed(self) -> Task {
        match self {
            Task::Live { attempts, max } if attempts + 1 >= max => Task::Dead {
                attempts: attempts + 1,
                max,
            },
            Task::Live { attempts, max } => Task::Live {
                attempts: attempts + 1,
                max,
            },
            other => other,
        }
    }

    /// A Stripe outage is never the task's fault: it always keeps one more attempt.
    fn outage(self) -> Task {
        match self {
            Task::Live { attempts, .. } => Task::Live {
                attempts: attempts + 1,
                max: MAX_ATTEMPTS.max(attempts + 2),
            },
            other => other,
        }
    }

    /// Re-enqueued or retried by an operator: fresh attempts.
    fn revived(self) -> Task {
        match self {
            Task::Dead { max, .. } => Task::Live { attempts: 0, max },
            other => other,
        }
    }

    pub fn is_live(self) -> bool {
        matches!(self, Task::Live { .. })
    }
}

/// Whether Stripe holds a session for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtStripe {
    No,
    /// A call timed out: the session may exist (or come to exist when the hung call lands).
    Maybe,
    Yes,
}

/// The session as Stripe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Open,
    Complete {
        paid: bool,
        settled: bool,
    },
    Expired,
    /// Expired, and then paid after all (the case the SPEC names).
    PaidAfterExpiry,
}

/// What an event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `checkout.session.*` event; `names_pi`: its session names the PaymentIntent (a
    /// completed one does; an expired one, or one paid after expiry, does not).
    Session {
        payment: PaymentEvent,
        names_pi: bool,
    },
    /// `refund.created` (pending): not acted on.
    RefundCreated,
    /// `charge.refunded`: what the charge has refunded so far.
    ChargeRefunded {
        refunded: i64,
    },
    /// `refund.updated`, succeeded: one refund.
    RefundUpdated {
        amount: i64,
    },
    DisputeCreated,
    DisputeClosed {
        won: bool,
    },
    /// `refund.created` of an operator's request (`.request`: its index); the worker's
    /// answer says the same.
    OperatorRefund {
        amount: i64,
        request: usize,
    },
    /// A PaymentIntent's or charge's event of the payment attempt `attempt`'s hold:
    /// `charge.succeeded` (`told`: `None`, not acted on),
    /// `payment_intent.amount_capturable_updated` (authorized), `charge.captured` and
    /// `payment_intent.succeeded` (captured), `payment_intent.canceled` (released, or lapsed)
    /// and `charge.expired` (lapsed).
    Hold {
        told: Option<PaymentEvent>,
        attempt: usize,
    },
}

/// An event Stripe generated for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    /// In Stripe's event list (the sweep finds it); a payment after expiry is not.
    pub listed: bool,
    /// Recorded by the system (delivered or listed): a repeat changes nothing.
    pub seen: bool,
}

impl Event {
    fn session(payment: PaymentEvent, names_pi: bool, listed: bool) -> Event {
        Event {
            kind: Kind::Session { payment, names_pi },
            listed,
            seen: false,
        }
    }

    pub(crate) fn money(kind: Kind) -> Event {
        Event {
            kind,
            listed: true,
            seen: false,
        }
    }
}

/// The money's life at Stripe, after a paid session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AtStripeMoney {
    pub refunded: i64,
    /// `None`: no dispute; `Some(None)`: open; `Some(Some(won))`: closed.
    pub dispute: Option<Option<bool>>,
}

/// The money's life as the system has recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Books {
    /// A session event naming the PaymentIntent was received: refunds and disputes find the
    /// order. Before that they are parked (these events, in arrival order).
    pub pi_known: bool,
    pub parked: Vec<usize>,
    /// `h2s_orders.amount_refunded`: the most any event said was refunded.
    pub amount_refunded: i64,
    /// The refunds seen (`refund.updated`), summed.
    pub refund_sum: i64,
    /// The dispute recorded: `None`, open (`Some(false)`) or closed (`Some(true)`).
    pub dispute: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub key: Option<u8>,
    pub status: OrderStatus,
    pub job: Option<JobStatus>,
    pub session_stored: bool,
    pub session: Session,
    pub at_stripe: AtStripe,
    pub checkout: Task,
    /// The checkout task still carries the order's inputs (a revived one does not: its
    /// first attempt reads the order, and asks Stripe only for a session still needed).
    pub carries_inputs: bool,
    /// The paid-order notification, once the order is paid.
    pub notify: Option<Task>,
    /// The dispute notification, once a dispute is recorded opened.
    pub notify_dispute: Option<Task>,
    pub events: Vec<Event>,
    pub money: AtStripeMoney,
    pub books: Books,
    /// What a job `on_hold` was held from; the job was cancelled by an operator.
    pub held_from: Option<JobStatus>,
    pub operator_cancelled: bool,
    /// The operator's refund requests, in the order they were made.
    pub requests: Vec<crate::operator::Request>,
    /// `"capture": "manual"`: the payment is held, and captured when the job is completed.
    pub manual: bool,
    /// The current payment attempt's PaymentIntent at Stripe (a held payment's).
    pub pi: Pi,
    /// Per payment attempt (a new payment link starts the next), its hold's tasks; the last
    /// is the current attempt.
    pub attempts: Vec<HoldTasks>,
    /// The current attempt's capture was asked (by the job's completion; its amount), or its
    /// release (the job cancelled, or an operator's refund).
    pub capture_asked: Option<i64>,
    pub release_asked: bool,
    /// Sessions of earlier payment attempts (one each) at Stripe.
    pub old_sessions: usize,
}

impl Order {
    /// A dead checkout task made runnable again (the sweep, an operator's retry): without
    /// the order's inputs, which a revival drops.
    fn revive_checkout(&mut self) {
        if matches!(self.checkout, Task::Dead { .. }) {
            self.carries_inputs = false;
        }
        self.checkout = self.checkout.revived();
    }
}

impl Order {
    /// Stripe holds a successful payment for the session (one a refund or a dispute can
    /// concern; a payment after expiry is left out: its session names no PaymentIntent); a
    /// held payment once captured.
    fn paid_at_stripe(&self) -> bool {
        match self.manual {
            false => matches!(self.session, Session::Complete { paid: true, .. }),
            true => matches!(self.pi, Pi::Captured(_)),
        }
    }

    /// What Stripe took: the order's total, or what was captured of a hold.
    pub(crate) fn charged(&self) -> i64 {
        match self.pi {
            Pi::Captured(amount) => amount,
            _ => TOTAL,
        }
    }
}

/// What the system must do for an operation, as the model resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new order in the next slot, holding its payment (`true`) or not.
    NewOrder(bool),
    /// A repeat of a keyed checkout: the answer names slot `.0`, nothing new (`.1`: the
    /// order's capture mode, sent again).
    Replay(usize, bool),
    Step(usize, Option<Crash>),
    /// Every runnable task once; the operator's refunds and the holds' tasks too when Stripe
    /// is healthy (a refund or hold call under a fault is not modelled: the model cannot tell
    /// when a hung call lands).
    Drain {
        stripe_ok: bool,
    },
    Fault(Option<StripeFault>),
    /// Stripe completes the open session (`paid` or delayed) and records the event.
    Complete(usize, bool),
    /// A payment for a session already expired: an event Stripe's list does not hold.
    PayAfterExpiry(usize),
    AsyncPayment(usize, bool),
    Expire(usize),
    Deliver(usize, usize),
    /// Stripe refunds this amount of the order's payment (two events).
    Refund(usize, i64),
    OpenDispute(usize),
    CloseDispute(usize, bool),
    Sweep(bool),
    /// Admin retry of a dead checkout task.
    AdminRetry(usize),
    /// An operator's refund request: all that remains or a part, cancelling the visit (and
    /// overriding a booked one) or not; `accepted`: the answer the model expects (202).
    RequestRefund {
        order: usize,
        full: bool,
        cancel: bool,
        accepted: bool,
    },
    /// A dispatcher's action on the order's job; `accepted`: 200 (else 409).
    JobAct {
        order: usize,
        act: crate::script::JobAct,
        accepted: bool,
    },
    /// The hold lapses at Stripe (two events).
    Lapse(usize),
    /// An operator asks for a new payment link; `accepted`: 202 (else 409).
    PayLink {
        order: usize,
        accepted: bool,
    },
}

/// The order an operation names (0 for those that name none).
fn op_order(op: Op) -> u8 {
    match op {
        Op::Step { order, .. }
        | Op::Pay { order, .. }
        | Op::Async { order, .. }
        | Op::Expire { order, .. }
        | Op::Release { order, .. }
        | Op::Refund { order, .. }
        | Op::Dispute { order, .. }
        | Op::CloseDispute { order, .. }
        | Op::AdminRetry { order }
        | Op::OperatorRefund { order, .. }
        | Op::Job { order, .. }
        | Op::Lapse { order, .. }
        | Op::PayLink { order } => order,
        _ => 0,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub orders: Vec<Order>,
    pub fault: Option<StripeFault>,
}

impl Model {
    /// The actions an operation stands for in this state, and the operation to print (its
    /// references resolved); `None` when it cannot happen now.
    pub fn resolve(&self, op: Op) -> Option<(Op, Vec<Action>)> {
        let n = self.orders.len();
        let order = |o: u8| (n > 0).then(|| o as usize % n);
        let op = op.on(order(op_order(op)).unwrap_or(0) as u8);
        let delivered =
            |o: usize, nth: usize, times: u8| (0..times).map(move |_| Action::Deliver(o, nth));
        let next_event = |o: usize| self.orders[o].events.len();
        Some(match op {
            Op::Checkout { key, manual } => {
                let existing = key.and_then(|k| self.orders.iter().position(|o| o.key == Some(k)));
                match existing {
                    Some(o) => {
                        let manual = self.orders[o].manual;
                        (
                            Op::Checkout { key, manual },
                            vec![Action::Replay(o, manual)],
                        )
                    }
                    None if self.orders.len() < 3 => (op, vec![Action::NewOrder(manual)]),
                    None => return None,
                }
            }
            Op::Step { order: o, crash } => {
                let o = order(o)?;
                self.orders[o]
                    .checkout
                    .is_live()
                    .then(|| (op, vec![Action::Step(o, crash)]))?
            }
            Op::Drain => (
                op,
                vec![Action::Drain {
                    stripe_ok: self.fault.is_none(),
                }],
            ),
            Op::OperatorRefund { .. } | Op::Job { .. } => {
                let o = order(op_order(op))?;
                (op, vec![self.resolve_operator(o, op)?])
            }
            Op::Fault(f) => (f != self.fault).then(|| (op, vec![Action::Fault(f)]))?,
            Op::Pay {
                order: o,
                paid,
                deliver,
            } => {
                let i = order(o)?;
                let this = &self.orders[i];
                if !this.session_stored {
                    return None; // the customer has no pay link yet
                }
                let first = match this.session {
                    Session::Open => Action::Complete(i, paid),
                    // A payment after expiry is made up of the session alone: a hold is not.
                    Session::Expired if paid && !this.manual => Action::PayAfterExpiry(i),
                    _ => return None,
                };
                let mut actions = vec![first];
                let at = next_event(i);
                if this.manual && paid {
                    // `charge.succeeded` (not acted on), then the hold's event and the
                    // session's, in Stripe's order.
                    actions.extend(delivered(i, at + 1, deliver));
                    actions.extend(delivered(i, at + 2, deliver));
                } else {
                    actions.extend(delivered(i, at, deliver));
                }
                (op, actions)
            }
            Op::Async {
                order: o,
                succeeded,
                deliver,
            } => {
                let i = order(o)?;
                match self.orders[i].session {
                    Session::Complete {
                        paid: false,
                        settled: false,
                    } => {
                        let mut actions = vec![Action::AsyncPayment(i, succeeded)];
                        actions.extend(delivered(i, next_event(i), deliver));
                        (op, actions)
                    }
                    _ => return None,
                }
            }
            Op::Expire { order: o, deliver } => {
                let i = order(o)?;
                let this = &self.orders[i];
                if !(this.session_stored && this.session == Session::Open) {
                    return None;
                }
                let mut actions = vec![Action::Expire(i)];
                actions.extend(delivered(i, next_event(i), deliver));
                (op, actions)
            }
            Op::Release { order: o, nth } => {
                let i = order(o)?;
                let events = self.orders[i].events.len();
                if events == 0 {
                    return None;
                }
                let nth = nth as usize % events;
                (
                    Op::Release {
                        order: o,
                        nth: nth as u8,
                    },
                    vec![Action::Deliver(i, nth)],
                )
            }
            Op::Refund {
                order: o,
                full,
                deliver,
            } => {
                let i = order(o)?;
                let this = &self.orders[i];
                let left = this.charged() - this.money.refunded;
                let amount = if full { left } else { PARTIAL };
                if !this.paid_at_stripe() || this.money.dispute.is_some() || amount > left {
                    return None;
                }
                if amount <= 0 || (!full && amount == left) {
                    return None;
                }
                let first = next_event(i);
                let mut actions = vec![Action::Refund(i, amount)];
                // `refund.created` (first) is not acted on; the two that follow are.
                actions.extend(delivered(i, first + 1, deliver));
                actions.extend(delivered(i, first + 2, deliver));
                (op, actions)
            }
            Op::Dispute { order: o, deliver } => {
                let i = order(o)?;
                let this = &self.orders[i];
                let disputable = this.paid_at_stripe()
                    && this.money.dispute.is_none()
                    && this.money.refunded < this.charged();
                if !disputable {
                    return None;
                }
                let mut actions = vec![Action::OpenDispute(i)];
                actions.extend(delivered(i, next_event(i), deliver));
                (op, actions)
            }
            Op::CloseDispute {
                order: o,
                won,
                deliver,
            } => {
                let i = order(o)?;
                if self.orders[i].money.dispute != Some(None) {
                    return None;
                }
                let mut actions = vec![Action::CloseDispute(i, won)];
                actions.extend(delivered(i, next_event(i), deliver));
                (op, actions)
            }
            Op::Sweep { dry_run } => (op, vec![Action::Sweep(dry_run)]),
            Op::AdminRetry { order: o } => {
                let i = order(o)?;
                matches!(self.orders[i].checkout, Task::Dead { .. })
                    .then(|| (op, vec![Action::AdminRetry(i)]))?
            }
            Op::Lapse { order: o, deliver } => {
                let i = order(o)?;
                if self.orders[i].pi != Pi::Held {
                    return None;
                }
                let first = next_event(i);
                let mut actions = vec![Action::Lapse(i)];
                actions.extend(delivered(i, first, deliver));
                actions.extend(delivered(i, first + 1, deliver));
                (op, actions)
            }
            Op::PayLink { order: o } => {
                let i = order(o)?;
                let this = &self.orders[i];
                if !this.manual {
                    return None;
                }
                let accepted = match this.status {
                    OrderStatus::AuthorizationExpired => true,
                    OrderStatus::PendingPayment | OrderStatus::AwaitingPayment => {
                        this.attempt() > 0
                    }
                    _ => false,
                };
                (op, vec![Action::PayLink { order: i, accepted }])
            }
        })
    }

    pub fn apply(&mut self, action: Action, key: Option<u8>) {
        match action {
            Action::NewOrder(manual) => self.orders.push(Order {
                key,
                status: OrderStatus::PendingPayment,
                job: None,
                session_stored: false,
                session: Session::Open,
                at_stripe: AtStripe::No,
                checkout: Task::fresh(),
                carries_inputs: true,
                notify: None,
                notify_dispute: None,
                events: Vec::new(),
                money: AtStripeMoney::default(),
                books: Books::default(),
                held_from: None,
                operator_cancelled: false,
                requests: Vec::new(),
                manual,
                pi: Pi::None,
                attempts: vec![HoldTasks::default()],
                capture_asked: None,
                release_asked: false,
                old_sessions: 0,
            }),
            Action::Replay(..) => {}
            Action::Step(o, crash) => self.step(o, crash),
            Action::Drain { stripe_ok } => {
                if stripe_ok {
                    self.carry_out_refunds();
                }
                for o in 0..self.orders.len() {
                    if self.orders[o].checkout.is_live() {
                        self.step(o, None);
                    }
                    let this = &mut self.orders[o];
                    for notify in [&mut this.notify, &mut this.notify_dispute] {
                        if let Some(Task::Live { .. }) = notify {
                            *notify = Some(Task::Done);
                        }
                    }
                    if stripe_ok {
                        self.hold_tasks(o);
                    }
                }
            }
            Action::Fault(f) => self.fault = f,
            Action::Complete(o, paid) if self.orders[o].manual => {
                // A card held (`paid`), or a delayed payment method still processing; either
                // completes `unpaid`, and neither settles by the session (no `async`).
                let this = &mut self.orders[o];
                this.session = Session::Complete {
                    paid: false,
                    settled: true,
                };
                let attempt = this.attempt();
                if paid {
                    this.pi = Pi::Held;
                    for told in [None, Some(PaymentEvent::Authorized)] {
                        this.events.push(Event::money(Kind::Hold { told, attempt }));
                    }
                } else {
                    this.pi = Pi::Processing;
                }
                this.events
                    .push(Event::session(PaymentEvent::CompletedUnpaid, true, true));
            }
            Action::Complete(o, paid) => {
                let this = &mut self.orders[o];
                this.session = Session::Complete {
                    paid,
                    settled: false,
                };
                let payment = if paid {
                    PaymentEvent::CompletedPaid
                } else {
                    PaymentEvent::CompletedUnpaid
                };
                this.events.push(Event::session(payment, true, true));
            }
            Action::PayAfterExpiry(o) => {
                let this = &mut self.orders[o];
                this.session = Session::PaidAfterExpiry;
                this.events
                    .push(Event::session(PaymentEvent::CompletedPaid, false, false));
            }
            Action::AsyncPayment(o, succeeded) => {
                let this = &mut self.orders[o];
                this.session = Session::Complete {
                    paid: succeeded,
                    settled: true,
                };
                let payment = if succeeded {
                    PaymentEvent::AsyncSucceeded
                } else {
                    PaymentEvent::AsyncFailed
                };
                this.events.push(Event::session(payment, true, true));
            }
            Action::Expire(o) => {
                let this = &mut self.orders[o];
                this.session = Session::Expired;
                this.events
                    .push(Event::session(PaymentEvent::Expired, false, true));
            }
            Action::Deliver(o, nth) => self.receive(o, nth),
            Action::Refund(o, amount) => {
                let this = &mut self.orders[o];
                this.money.refunded += amount;
                let refunded = this.money.refunded;
                this.events.push(Event::money(Kind::RefundCreated));
                this.events
                    .push(Event::money(Kind::ChargeRefunded { refunded }));
                this.events
                    .push(Event::money(Kind::RefundUpdated { amount }));
            }
            Action::OpenDispute(o) => {
                let this = &mut self.orders[o];
                this.money.dispute = Some(None);
                this.events.push(Event::money(Kind::DisputeCreated));
            }
            Action::CloseDispute(o, won) => {
                let this = &mut self.orders[o];
                this.money.dispute = Some(Some(won));
                this.events.push(Event::money(Kind::DisputeClosed { won }));
            }
            Action::Sweep(true) => {}
            Action::Sweep(false) => self.sweep(),
            Action::AdminRetry(o) => {
                self.orders[o].revive_checkout();
            }
            Action::RequestRefund { order, .. } | Action::JobAct { order, .. } => {
                self.operator(order, action)
            }
            Action::Lapse(o) => {
                let this = &mut self.orders[o];
                this.pi = Pi::Lapsed;
                let (told, attempt) = (Some(PaymentEvent::Lapsed), this.attempt());
                for _ in 0..2 {
                    this.events.push(Event::money(Kind::Hold { told, attempt }));
                }
            }
            Action::PayLink { order, accepted } => {
                if accepted && self.orders[order].status == OrderStatus::AuthorizationExpired {
                    self.new_attempt(order);
                }
            }
        }
    }

    /// An event reaches the system (by the webhook or the sweep): once per event id. A
    /// refund or dispute before the order's PaymentIntent is known waits (parked) for the
    /// session event that names it, and is applied just before that event.
    fn receive(&mut self, o: usize, nth: usize) {
        let attempt_now = self.orders[o].attempt();
        let event = &mut self.orders[o].events[nth];
        if event.seen {
            return;
        }
        event.seen = true;
        let kind = event.kind;
        let books = &mut self.orders[o].books;
        match kind {
            Kind::Session { payment, names_pi } => {
                if names_pi && !books.pi_known {
                    books.pi_known = true;
                    for parked in std::mem::take(&mut books.parked) {
                        let kind = self.orders[o].events[parked].kind;
                        self.money(o, kind);
                    }
                }
                self.pay(o, payment);
            }
            Kind::RefundCreated | Kind::Hold { told: None, .. } => {}
            // An earlier attempt's PaymentIntent: no order has it now (kept for good).
            Kind::Hold { attempt, .. } if attempt != attempt_now => {}
            _ if !books.pi_known => books.parked.push(nth),
            money => self.money(o, money),
        }
    }

    /// A refund or a dispute, applied: recorded, then the payment event it amounts to.
    pub(crate) fn money(&mut self, o: usize, kind: Kind) {
        let this = &mut self.orders[o];
        // All that Stripe took went back: the order's total, or all a hold's capture took.
        let charged = this.charged();
        let books = &mut this.books;
        let event = match kind {
            Kind::ChargeRefunded { refunded } => {
                books.amount_refunded = books.amount_refunded.max(refunded);
                (books.amount_refunded >= charged).then_some(PaymentEvent::Refunded)
            }
            Kind::RefundUpdated { amount } => {
                books.refund_sum += amount;
                books.amount_refunded = books.amount_refunded.max(books.refund_sum);
                (books.amount_refunded >= charged).then_some(PaymentEvent::Refunded)
            }
            Kind::OperatorRefund { amount, request } => {
                let r = &mut this.requests[request];
                if r.recorded {
                    return;
                }
                r.recorded = true;
                r.status = crate::operator::RequestStatus::Succeeded;
                books.refund_sum += amount;
                books.amount_refunded = books.amount_refunded.max(books.refund_sum);
                (books.amount_refunded >= charged).then_some(PaymentEvent::Refunded)
            }
            Kind::DisputeCreated if books.dispute.is_none() => {
                books.dispute = Some(false);
                this.notify_dispute.get_or_insert(Task::fresh());
                Some(PaymentEvent::DisputeOpened)
            }
            Kind::DisputeClosed { won } if books.dispute != Some(true) => {
                books.dispute = Some(true);
                Some(if won {
                    PaymentEvent::DisputeWon
                } else {
                    PaymentEvent::DisputeLost
                })
            }
            // Only a held payment's PaymentIntent tells a hold.
            Kind::Hold { told, .. } if this.manual => told,
            _ => None,
        };
        if let Some(event) = event {
            self.pay(o, event);
        }
    }

    /// A payment event moves the order; its job follows.
    pub(crate) fn pay(&mut self, o: usize, payment: PaymentEvent) {
        let this = &mut self.orders[o];
        let before = this.status;
        this.status = spec_next(before, payment);
        if this.status == OrderStatus::Paid && before != OrderStatus::Paid {
            this.notify.get_or_insert(Task::fresh());
        }
        match this.status {
            // Paid, disputed or held: its one job (made if missing), as the order implies.
            OrderStatus::Paid | OrderStatus::Disputed | OrderStatus::Authorized => {
                this.ensure_job()
            }
            now => this.follow(now),
        }
        // A held payment's order newly waiting for (or holding) it: the worker reads the
        // PaymentIntent, once per attempt.
        let waits = matches!(
            this.status,
            OrderStatus::AwaitingPayment | OrderStatus::Authorized
        );
        if this.manual && waits && this.status != before {
            this.current().check.get_or_insert(Task::fresh());
        }
    }

    /// The worker's checkout step for order `o`, dying at `crash` if given.
    fn step(&mut self, o: usize, crash: Option<Crash>) {
        let fault = self.fault;
        let this = &mut self.orders[o];
        if crash == Some(Crash::BeforeJob) {
            this.checkout = this.checkout.crashed();
            return;
        }
        let needs_session = !this.session_stored && this.status == OrderStatus::PendingPayment;
        // The first attempt since the task was made or revived carries the order's inputs and
        // asks Stripe without reading the order; a later one reads it, and asks only for a
        // session still needed.
        let first = this.carries_inputs && matches!(this.checkout, Task::Live { attempts: 0, .. });
        let asks = needs_session || first;
        let answered = asks && fault.is_none();
        if asks && fault == Some(StripeFault::Timeout) && this.at_stripe == AtStripe::No {
            this.at_stripe = AtStripe::Maybe;
        }
        if answered {
            this.at_stripe = AtStripe::Yes;
        }
        if crash == Some(Crash::AfterStripeCall) {
            this.checkout = this.checkout.crashed();
            return;
        }
        if asks && !answered {
            // An outage: nothing written; the attempt counts as an outage only if the worker
            // lives to record it (dying after the step, it spends an attempt like any crash).
            this.checkout = match crash {
                Some(_) => this.checkout.crashed(),
                None => this.checkout.outage(),
            };
            return;
        }
        // The step's one commit: the job, with the status the order implies; the session
        // while the order waits for one; the task done.
        this.ensure_job();
        if needs_session {
            this.session_stored = true;
        }
        this.checkout = match crash {
            Some(_) => this.checkout.crashed(),
            None => Task::Done,
        };
    }

    /// A sweep (not a dry run): missed events from Stripe's list (unless Stripe is failing),
    /// the invariant, lost checkouts re-enqueued and dead tasks revived.
    fn sweep(&mut self) {
        if self.fault.is_none() {
            for o in 0..self.orders.len() {
                for nth in 0..self.orders[o].events.len() {
                    if self.orders[o].events[nth].listed {
                        self.receive(o, nth);
                    }
                }
            }
        }
        for this in &mut self.orders {
            if matches!(this.status, OrderStatus::Paid | OrderStatus::Authorized) {
                this.ensure_job();
            }
            this.revive_checkout();
            for n in [&mut this.notify, &mut this.notify_dispute]
                .into_iter()
                .flatten()
            {
                *n = n.revived();
            }
        }
    }
}
