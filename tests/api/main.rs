//! Integration tests: the real API, worker and database, a local Stripe stand-in.

mod adopt;
mod capture;
mod capture_flow;
mod checkout;
mod console;
mod console_refund;
mod console_speaks;
mod ensure_race;
mod event_delivery;
mod event_endpoints;
#[path = "../common/event_feed.rs"]
mod event_feed;
mod event_health;
mod event_refund;
mod event_replay;
mod event_steps;
mod events;
mod events_jobs;
mod helpers;
mod http_errors;
mod invariant;
mod job_actions;
mod log_capture;
mod money;
mod openapi;
mod operations;
mod outage;
#[path = "../common/outbox_steps.rs"]
mod outbox_steps;
mod reconcile;
mod refund_guards;
mod refund_pending;
mod refund_steps;
mod refunds;
mod samples;
mod schemathesis;
#[path = "../common/settings.rs"]
mod settings;
mod startup;
mod stripe_samples;
mod stripe_versions;
#[path = "../common/test_db.rs"]
mod test_db;
mod webdriver;
mod webhook;
mod webhook_guards;
