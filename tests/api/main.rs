//! Integration tests: the real API, worker and database, a local Stripe stand-in.

mod adopt;
mod checkout;
mod console;
mod console_refund;
mod helpers;
mod http_errors;
mod invariant;
mod job_actions;
mod money;
mod openapi;
mod operations;
mod outage;
#[path = "../common/outbox_steps.rs"]
mod outbox_steps;
mod reconcile;
mod refund_guards;
mod refund_steps;
mod refunds;
#[path = "../common/settings.rs"]
mod settings;
mod startup;
#[path = "../common/test_db.rs"]
mod test_db;
mod webdriver;
mod webhook;
mod webhook_guards;
