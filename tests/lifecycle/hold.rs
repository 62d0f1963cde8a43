//! Issue 34 in the model: a payment held for capture after the visit. The PaymentIntent as
//! Stripe keeps it, each payment attempt's hold tasks (`check_hold`, `capture`, `release`,
//! `pay_link`) as the worker runs them, and a new payment link's next attempt.

use h2s_dispatch::orders::{OrderStatus, transition::PaymentEvent};

use crate::model::{AtStripe, Event, Kind, Model, Order, Session, Task};

/// A hold's PaymentIntent (manual capture, issue 34) as Stripe keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pi {
    /// No PaymentIntent yet (the session is not paid).
    None,
    /// A delayed payment method: `processing`, no hold to tell.
    Processing,
    /// `requires_capture`.
    Held,
    /// `succeeded`: this much was captured.
    Captured(i64),
    /// `canceled` on request.
    Released,
    /// `canceled`, `expired`.
    Lapsed,
}

impl Pi {
    /// The hold's fate as the PaymentIntent (read, or answered) tells it.
    pub(crate) fn told(self) -> Option<PaymentEvent> {
        match self {
            Pi::None | Pi::Processing => None,
            Pi::Held => Some(PaymentEvent::Authorized),
            Pi::Captured(_) => Some(PaymentEvent::Captured),
            Pi::Released => Some(PaymentEvent::Released),
            Pi::Lapsed => Some(PaymentEvent::Lapsed),
        }
    }
}

/// The outbox tasks of one payment attempt of a held payment (`<kind>:<order>:<attempt>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldTasks {
    /// `check_hold`: the PaymentIntent read.
    pub check: Option<Task>,
    pub capture: Option<Task>,
    pub release: Option<Task>,
    /// `pay_link`: a new attempt's session made.
    pub pay_link: Option<Task>,
}

impl Order {
    pub(crate) fn attempt(&self) -> usize {
        self.attempts.len() - 1
    }

    pub(crate) fn current(&mut self) -> &mut HoldTasks {
        self.attempts
            .last_mut()
            .expect("every order has its first attempt")
    }
}

impl Model {
    /// A new payment link for a lapsed hold: the next payment attempt, whose session the
    /// `pay_link` task makes; the old attempt's session, PaymentIntent and asks forgotten (a
    /// late event of the old PaymentIntent finds no order).
    pub(crate) fn new_attempt(&mut self, o: usize) {
        let this = &mut self.orders[o];
        assert!(
            this.books.parked.is_empty(),
            "a lapsed hold's PaymentIntent was known"
        );
        this.old_sessions += 1;
        this.at_stripe = AtStripe::No;
        this.session_stored = false;
        this.session = Session::Open;
        this.pi = Pi::None;
        this.books.pi_known = false;
        this.capture_asked = None;
        this.release_asked = false;
        this.attempts.push(HoldTasks {
            pay_link: Some(Task::fresh()),
            ..HoldTasks::default()
        });
        self.pay(o, PaymentEvent::NewPayLink);
    }

    /// The holds' tasks of order `o`, every attempt's in turn, each run once if live (Stripe
    /// healthy): `check_hold`, `capture`, `release`, `pay_link`. A task of an attempt that is
    /// not the current one, or of an order no longer waiting for it, does nothing.
    pub(crate) fn hold_tasks(&mut self, o: usize) {
        for a in 0..self.orders[o].attempts.len() {
            let tasks = self.orders[o].attempts[a];
            let current = a == self.orders[o].attempt();
            if tasks.check.is_some_and(Task::is_live) {
                self.orders[o].attempts[a].check = Some(Task::Done);
                let waiting = matches!(
                    self.orders[o].status,
                    OrderStatus::Authorized | OrderStatus::AwaitingPayment
                );
                if current && waiting {
                    // Read, as its event would be.
                    if let Some(told) = self.orders[o].pi.told() {
                        self.pay(o, told);
                    }
                }
            }
            if tasks.capture.is_some_and(Task::is_live) {
                self.orders[o].attempts[a].capture = Some(Task::Done);
                if current && self.orders[o].status == OrderStatus::Authorized {
                    let this = &mut self.orders[o];
                    if this.pi == Pi::Held {
                        let amount = this.capture_asked.expect("a capture task is asked");
                        this.pi = Pi::Captured(amount);
                        let told = Some(PaymentEvent::Captured);
                        for _ in 0..2 {
                            this.events
                                .push(Event::money(Kind::Hold { told, attempt: a }));
                        }
                    }
                    // Stripe's answer (a capture refused: the PaymentIntent's state).
                    if let Some(told) = self.orders[o].pi.told() {
                        self.pay(o, told);
                    }
                }
            }
            if tasks.release.is_some_and(Task::is_live) {
                self.orders[o].attempts[a].release = Some(Task::Done);
                if current && self.orders[o].status == OrderStatus::Authorized {
                    let this = &mut self.orders[o];
                    if this.pi == Pi::Held {
                        this.pi = Pi::Released;
                        let told = Some(PaymentEvent::Released);
                        this.events
                            .push(Event::money(Kind::Hold { told, attempt: a }));
                    }
                    if let Some(told) = self.orders[o].pi.told() {
                        self.pay(o, told);
                    }
                }
            }
            if tasks.pay_link.is_some_and(Task::is_live) {
                let this = &mut self.orders[o];
                this.attempts[a].pay_link = Some(Task::Done);
                if current && !this.session_stored && this.status == OrderStatus::PendingPayment {
                    this.at_stripe = AtStripe::Yes;
                    this.session_stored = true;
                }
            }
        }
    }
}
