//! Issue 26 in the model: the operator's refund requests and the dispatcher's job actions,
//! as the contract says they go (SPEC "Operator money and dispatch actions",
//! docs/explanation/operator-actions.md), and the job's own rule of moves.

use h2s_dispatch::{dispatch::JobStatus, orders::OrderStatus};

use crate::{
    model::{Action, Event, Kind, Model, Order, PARTIAL, TOTAL, Task, spec_job},
    script::{JobAct, Op},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Requested,
    Succeeded,
    Failed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Requested => "requested",
            RequestStatus::Succeeded => "succeeded",
            RequestStatus::Failed => "failed",
        }
    }
}

/// An operator's refund request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub amount: i64,
    pub status: RequestStatus,
    /// Its refund is in the books (by the worker's answer or its event): once.
    pub recorded: bool,
}

impl Order {
    /// The order's one job, made if missing, with the status the order implies.
    pub(crate) fn ensure_job(&mut self) {
        match self.job {
            None => self.job = Some(spec_job(self.status)),
            Some(_) => self.follow(self.status),
        }
    }

    /// A payment moves the job (if any) only where the contract allows: never out of
    /// `completed`, out of `scheduled` only into a dispute's hold (a won dispute gives it
    /// back; a lapsed hold of the payment leaves it scheduled) or by a lost dispute (in
    /// whichever order its two events come), never an operator's cancellation.
    pub(crate) fn follow(&mut self, status: OrderStatus) {
        use JobStatus as J;
        let Some(job) = self.job else { return };
        let target = spec_job(status);
        if self.operator_cancelled || job == target {
            return;
        }
        let to = if target == J::Ready && job == J::OnHold && self.held_from == Some(J::Scheduled) {
            J::Scheduled
        } else if status == OrderStatus::DisputeLost && job == J::Scheduled {
            // A lost dispute's close read before its opening: as if held, then cancelled.
            J::Cancelled
        } else {
            let from: &[J] = match target {
                J::Ready => &[J::AwaitingPayment, J::Cancelled, J::OnHold],
                J::AwaitingPayment => &[J::Ready],
                J::Cancelled => &[J::AwaitingPayment, J::Ready, J::OnHold],
                J::OnHold if status == OrderStatus::AuthorizationExpired => {
                    &[J::AwaitingPayment, J::Ready, J::Cancelled]
                }
                J::OnHold => &[J::AwaitingPayment, J::Ready, J::Scheduled, J::Cancelled],
                J::Scheduled | J::Completed => &[],
            };
            if !from.contains(&job) {
                return;
            }
            target
        };
        self.held_from = (to == J::OnHold).then_some(job);
        self.job = Some(to);
    }

    fn in_flight(&self) -> i64 {
        let requested = self
            .requests
            .iter()
            .filter(|r| r.status == RequestStatus::Requested);
        requested.map(|r| r.amount).sum()
    }

    /// The amount a request would refund, if the guards let it through.
    fn refund_amount(&self, full: bool, cancel: bool) -> Option<i64> {
        if self.status != OrderStatus::Paid || !self.books.pi_known {
            return None;
        }
        // All that Stripe took (a held payment's capture) and has not given back.
        let remaining = self.charged() - self.books.amount_refunded - self.in_flight();
        let amount = if full { remaining } else { PARTIAL };
        if amount <= 0 || amount > remaining {
            return None;
        }
        let calls_off = cancel || amount == remaining;
        match self.job {
            Some(JobStatus::Completed) if cancel => None,
            // The override goes with `cancel` in these operations.
            Some(JobStatus::Scheduled) if calls_off && !cancel => None,
            _ => Some(amount),
        }
    }

    /// The held payment's release asked (once per attempt): the `release` task.
    fn release(&mut self) {
        if !self.release_asked {
            self.release_asked = true;
            self.current().release = Some(Task::fresh());
        }
    }

    fn cancel_job(&mut self) {
        if matches!(
            self.job,
            Some(JobStatus::AwaitingPayment | JobStatus::Ready | JobStatus::Scheduled)
        ) {
            self.job = Some(JobStatus::Cancelled);
            self.operator_cancelled = true;
            self.held_from = None;
        }
    }
}

/// The dispatcher's action on a job: its next status, `Ok(None)` for no change, `Err` for a
/// refusal.
fn job_next(job: JobStatus, act: JobAct) -> Result<Option<JobStatus>, ()> {
    use JobStatus as J;
    match (act, job) {
        (JobAct::Schedule, J::Ready | J::Scheduled) => Ok(Some(J::Scheduled)),
        (JobAct::Complete | JobAct::CompletePartial, J::Scheduled) => Ok(Some(J::Completed)),
        (JobAct::Complete | JobAct::CompletePartial, J::Completed) => Ok(None),
        (JobAct::Cancel, J::AwaitingPayment | J::Ready | J::Scheduled) => Ok(Some(J::Cancelled)),
        (JobAct::Cancel, J::Cancelled) => Ok(None),
        _ => Err(()),
    }
}

impl Model {
    pub(crate) fn resolve_operator(&self, o: usize, op: Op) -> Option<Action> {
        let this = &self.orders[o];
        match op {
            Op::OperatorRefund { full, cancel, .. } => Some(Action::RequestRefund {
                order: o,
                full,
                cancel,
                // A held payment is released instead, unless its capture was asked; a
                // booked visit needs the override (which goes with `cancel` here).
                accepted: match this.status {
                    OrderStatus::Authorized => {
                        this.capture_asked.is_none()
                            && (cancel || this.job != Some(JobStatus::Scheduled))
                    }
                    _ => this.refund_amount(full, cancel).is_some(),
                },
            }),
            Op::Job { act, .. } => {
                let job = this.job?;
                let held = this.status == OrderStatus::Authorized;
                let accepted = match act {
                    // One capture per payment attempt; an amount only for a held payment.
                    JobAct::Complete | JobAct::CompletePartial if this.capture_asked.is_some() => {
                        false
                    }
                    JobAct::CompletePartial if !held => false,
                    _ => job_next(job, act).is_ok(),
                };
                Some(Action::JobAct {
                    order: o,
                    act,
                    accepted,
                })
            }
            _ => None,
        }
    }

    pub(crate) fn operator(&mut self, o: usize, action: Action) {
        let this = &mut self.orders[o];
        match action {
            // A held payment is released (unless its capture was asked: refused), its
            // booked visit cancelled at once (with the override).
            Action::RequestRefund { accepted: true, .. }
                if this.status == OrderStatus::Authorized =>
            {
                if this.job == Some(JobStatus::Scheduled) {
                    this.cancel_job();
                }
                this.release()
            }
            Action::RequestRefund { .. } if this.status == OrderStatus::Authorized => {}
            Action::RequestRefund { full, cancel, .. } => {
                let Some(amount) = this.refund_amount(full, cancel) else {
                    return;
                };
                let calls_off = cancel
                    || amount == this.charged() - this.books.amount_refunded - this.in_flight();
                this.requests.push(Request {
                    amount,
                    status: RequestStatus::Requested,
                    recorded: false,
                });
                if calls_off {
                    this.cancel_job();
                }
            }
            Action::JobAct { act, accepted, .. } => {
                if !accepted {
                    return;
                }
                let held = this.status == OrderStatus::Authorized;
                let moved = this.job.map(|job| job_next(job, act));
                if let Some(Ok(Some(to))) = moved {
                    if to == JobStatus::Cancelled {
                        this.cancel_job();
                        if held {
                            this.release();
                        }
                    } else {
                        this.job = Some(to);
                        this.held_from = None;
                    }
                }
                // The visit done: the held payment's capture asked, all of it or a part.
                let amount = match act {
                    JobAct::Complete => TOTAL,
                    JobAct::CompletePartial => PARTIAL,
                    _ => return,
                };
                if held {
                    this.capture_asked = Some(amount);
                    this.current().capture = Some(Task::fresh());
                }
            }
            _ => {}
        }
    }

    /// The worker carries out every request still `requested`, oldest first: Stripe makes
    /// the refund (its events recorded at Stripe, and the answer applied as the
    /// `refund.created` event would be) or refuses it (a dispute, less left than asked).
    pub(crate) fn carry_out_refunds(&mut self) {
        for o in 0..self.orders.len() {
            for r in 0..self.orders[o].requests.len() {
                let this = &mut self.orders[o];
                let request = this.requests[r];
                if request.status != RequestStatus::Requested {
                    continue;
                }
                let left = this.charged() - this.money.refunded;
                if this.money.dispute.is_some() || request.amount > left {
                    this.requests[r].status = RequestStatus::Failed;
                    continue;
                }
                this.money.refunded += request.amount;
                let refunded = this.money.refunded;
                this.events
                    .push(Event::money(Kind::ChargeRefunded { refunded }));
                let kind = Kind::OperatorRefund {
                    amount: request.amount,
                    request: r,
                };
                this.events.push(Event::money(kind));
                self.money(o, kind);
            }
        }
    }
}
