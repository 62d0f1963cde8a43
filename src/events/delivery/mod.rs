//! Delivering the event feed (issue 25) as the Standard Webhooks specification says: signed
//! POSTs, retried on Svix's schedule, at least once per endpoint that wants the event, with
//! the same `webhook-id` every time. The loop runs in the worker process ([`run`]); each
//! endpoint has its own cap of deliveries in flight, so that a slow or dead one never holds
//! another up; a lease on each claimed delivery makes a worker killed mid-send lose nothing.

pub mod claim;
pub mod health;
pub mod record;
pub mod replay;
pub mod retention;
pub mod run;
pub mod send;
pub mod settings;
pub mod sign;

pub use run::{CHANNEL, run};
pub use settings::DeliveryConfig;
