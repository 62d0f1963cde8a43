//! The reconciler (third layer): a sweep that repairs what the checkout API, the outbox worker
//! and the Stripe webhook missed, so that every paid order ends with exactly one dispatch job.
//! What a sweep does, its report fields, its exit codes and how to deploy it: README.md, "The
//! reconciler". Entry points: [`sweep()`] (`reconcile --once`, the admin route and the console)
//! and [`run_scheduled`] (`reconcile` on `--schedule`, `api --dev`).
//!
//! One file per step, in the order `sweep` runs them; each repair goes through the function
//! the other layers use, one order per transaction, and each step's queries sit in its file:
//! - `event_catchup`: (b) missed webhooks, listed from Stripe's Events API;
//! - `session_checks`: (b) sessions retrieved one by one where events cannot answer;
//! - `parked`: (b) refunds and disputes parked for a PaymentIntent no order has: its session
//!   found in Stripe's list and applied;
//! - `orphans`: (a) paid orders breaking the invariant;
//! - `holds`: (f) held payments nearing their end told once, ended ones looked up at Stripe;
//! - `requeue`: (c) checkouts whose session was never created;
//! - `tidy`: (d) dead outbox tasks revived and counted, (e) finished rows deleted.
//!
//! Around them: `sweep` (the order, the report's metrics and log), `context` (what the steps
//! share), `queries` (the keyset cursor and statement type), `plans` (every query's plan, for
//! the index test), [`lock`] (one sweep at a time), `schedule` (the cron loop), `report` and
//! [`history`] (what a sweep did), [`settings`] (flags and [`SweepOptions`]), [`process`] (the
//! binary's run). In a dry run nothing is written, not even the event cursor; (b) still asks
//! Stripe (read-only) so that it can report what it would apply.

mod context;
mod event_catchup;
pub mod history;
mod holds;
pub mod lock;
mod orphans;
mod parked;
pub mod plans;
pub mod queries;
mod report;
mod requeue;
mod schedule;
mod session_checks;
pub mod settings;
mod sweep;
mod tidy;

pub use self::{
    report::{Failure, Repair, SweepReport},
    schedule::run_scheduled,
    settings::SweepOptions,
    sweep::{MISSED_WEBHOOKS_STEP, SweepError, sweep, sweep_until, sweep_without_stripe},
};
