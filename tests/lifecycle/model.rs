//! The reference model: plain Rust, no I/O. What SPEC.md says each order's status, its
//! dispatch job's status, its session and its checkout task must be after each operation.
//! Written from the contract, not from the code: its transition rule is its own (the README
//! table is what ties the code's `transition::next` to the contract).

use h2s_dispatch::{
    dispatch::JobStatus,
    orders::{OrderStatus, transition::PaymentEvent},
};

use crate::script::{Crash, Op, StripeFault};

/// `max_attempts` of every task row (the api's and the worker's policy): 1 try + 1 retry, so
/// that a few crashes kill a task and the revival paths (admin retry, the sweep) are reached.
pub const MAX_ATTEMPTS: i32 = 2;

/// The SPEC's lifecycle: money that arrived is never ignored and `paid` is never left; a
/// delayed payment method waits in `awaiting_payment`; an unpaid order can fail or expire.
pub fn spec_next(status: OrderStatus, event: PaymentEvent) -> OrderStatus {
    use OrderStatus as S;
    use PaymentEvent as E;
    let unpaid = matches!(status, S::PendingPayment | S::AwaitingPayment);
    match event {
        _ if status == S::Paid => S::Paid,
        E::CompletedPaid | E::AsyncSucceeded => S::Paid,
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
        OrderStatus::Paid => JobStatus::Ready,
        OrderStatus::PendingPayment | OrderStatus::AwaitingPayment => JobStatus::AwaitingPayment,
        OrderStatus::PaymentFailed | OrderStatus::Expired | OrderStatus::Failed => {
            JobStatus::Cancelled
        }
    }
}

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
    fn fresh() -> Task {
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

/// An event Stripe generated for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub payment: PaymentEvent,
    /// In Stripe's event list (the sweep finds it); a payment after expiry is not.
    pub listed: bool,
    /// Recorded by the system (delivered or listed): a repeat changes nothing.
    pub seen: bool,
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
    /// The paid-order notification, once the order is paid.
    pub notify: Option<Task>,
    pub events: Vec<Event>,
}

/// What the system must do for an operation, as the model resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new order in the next slot.
    NewOrder,
    /// A repeat of a keyed checkout: the answer names slot `.0`, nothing new.
    Replay(usize),
    Step(usize, Option<Crash>),
    Drain,
    Fault(Option<StripeFault>),
    /// Stripe completes the open session (`paid` or delayed) and records the event.
    Complete(usize, bool),
    /// A payment for a session already expired: an event Stripe's list does not hold.
    PayAfterExpiry(usize),
    AsyncPayment(usize, bool),
    Expire(usize),
    Deliver(usize, usize),
    Sweep(bool),
    /// Admin retry of a dead checkout task.
    AdminRetry(usize),
}

/// The order an operation names (0 for those that name none).
fn op_order(op: Op) -> u8 {
    match op {
        Op::Step { order, .. }
        | Op::Pay { order, .. }
        | Op::Async { order, .. }
        | Op::Expire { order, .. }
        | Op::Release { order, .. }
        | Op::AdminRetry { order } => order,
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
            Op::Checkout { key } => {
                let existing = key.and_then(|k| self.orders.iter().position(|o| o.key == Some(k)));
                match existing {
                    Some(o) => (op, vec![Action::Replay(o)]),
                    None if self.orders.len() < 3 => (op, vec![Action::NewOrder]),
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
            Op::Drain => (op, vec![Action::Drain]),
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
                    Session::Expired if paid => Action::PayAfterExpiry(i),
                    _ => return None,
                };
                let mut actions = vec![first];
                actions.extend(delivered(i, next_event(i), deliver));
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
            Op::Sweep { dry_run } => (op, vec![Action::Sweep(dry_run)]),
            Op::AdminRetry { order: o } => {
                let i = order(o)?;
                matches!(self.orders[i].checkout, Task::Dead { .. })
                    .then(|| (op, vec![Action::AdminRetry(i)]))?
            }
        })
    }

    pub fn apply(&mut self, action: Action, key: Option<u8>) {
        match action {
            Action::NewOrder => self.orders.push(Order {
                key,
                status: OrderStatus::PendingPayment,
                job: None,
                session_stored: false,
                session: Session::Open,
                at_stripe: AtStripe::No,
                checkout: Task::fresh(),
                notify: None,
                events: Vec::new(),
            }),
            Action::Replay(_) => {}
            Action::Step(o, crash) => self.step(o, crash),
            Action::Drain => {
                for o in 0..self.orders.len() {
                    if self.orders[o].checkout.is_live() {
                        self.step(o, None);
                    }
                    if let Some(Task::Live { .. }) = self.orders[o].notify {
                        self.orders[o].notify = Some(Task::Done);
                    }
                }
            }
            Action::Fault(f) => self.fault = f,
            Action::Complete(o, paid) => {
                let this = &mut self.orders[o];
                this.session = Session::Complete {
                    paid,
                    settled: false,
                };
                this.events.push(Event {
                    payment: if paid {
                        PaymentEvent::CompletedPaid
                    } else {
                        PaymentEvent::CompletedUnpaid
                    },
                    listed: true,
                    seen: false,
                });
            }
            Action::PayAfterExpiry(o) => {
                let this = &mut self.orders[o];
                this.session = Session::PaidAfterExpiry;
                this.events.push(Event {
                    payment: PaymentEvent::CompletedPaid,
                    listed: false,
                    seen: false,
                });
            }
            Action::AsyncPayment(o, succeeded) => {
                let this = &mut self.orders[o];
                this.session = Session::Complete {
                    paid: succeeded,
                    settled: true,
                };
                this.events.push(Event {
                    payment: if succeeded {
                        PaymentEvent::AsyncSucceeded
                    } else {
                        PaymentEvent::AsyncFailed
                    },
                    listed: true,
                    seen: false,
                });
            }
            Action::Expire(o) => {
                let this = &mut self.orders[o];
                this.session = Session::Expired;
                this.events.push(Event {
                    payment: PaymentEvent::Expired,
                    listed: true,
                    seen: false,
                });
            }
            Action::Deliver(o, nth) => self.receive(o, nth),
            Action::Sweep(true) => {}
            Action::Sweep(false) => self.sweep(),
            Action::AdminRetry(o) => {
                self.orders[o].checkout = self.orders[o].checkout.revived();
            }
        }
    }

    /// An event reaches the system (by the webhook or the sweep): once per event id.
    fn receive(&mut self, o: usize, nth: usize) {
        let event = &mut self.orders[o].events[nth];
        if event.seen {
            return;
        }
        event.seen = true;
        let payment = event.payment;
        let this = &mut self.orders[o];
        let before = this.status;
        this.status = spec_next(before, payment);
        if this.status == OrderStatus::Paid {
            // Paid (newly or again): its one job, ready.
            this.job = Some(JobStatus::Ready);
            if before != OrderStatus::Paid {
                this.notify = Some(Task::fresh());
            }
        } else if let Some(job) = &mut this.job {
            *job = spec_job(this.status);
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
        // The job first, whatever happens next, with the status the order implies.
        this.job = Some(spec_job(this.status));
        let needs_session = !this.session_stored && this.status == OrderStatus::PendingPayment;
        let created = needs_session && fault.is_none();
        if needs_session && fault == Some(StripeFault::Timeout) && this.at_stripe == AtStripe::No {
            this.at_stripe = AtStripe::Maybe;
        }
        if created {
            this.at_stripe = AtStripe::Yes;
        }
        if crash == Some(Crash::AfterStripeCall) {
            this.checkout = this.checkout.crashed();
            return;
        }
        if created {
            this.session_stored = true;
        }
        this.checkout = match crash {
            Some(_) => this.checkout.crashed(),
            None if needs_session && !created => this.checkout.outage(),
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
            if this.status == OrderStatus::Paid {
                this.job = Some(JobStatus::Ready);
            }
            this.checkout = this.checkout.revived();
            if let Some(n) = &mut this.notify {
                *n = n.revived();
            }
        }
    }
}
