//! Settings of the three processes: clap flags with environment fallbacks. Each process
//! reads one tree once ([`ApiSettings`], [`WorkerSettings`], [`ReconcileSettings`]), made of
//! sections per concern, and hands it down by reference (`Arc`), never field by field: a new
//! setting is one field in its section, read where it is used.

mod api;
mod delivery;
mod process;
mod reconcile;
mod shared;
mod worker;

pub use api::{ApiSettings, CheckoutUrlSettings, HttpSettings};
pub use delivery::DeliverySettings;
pub use process::{
    DEFAULT_DATABASE_URL, DatabaseSettings, LogSettings, ProcessSettings, StripeSettings, require,
};
pub use reconcile::{ReconcileSettings, SweepSettings};
pub use shared::SharedSettings;
pub use worker::{
    DEFAULT_MAX_RETRIES, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RETRY_BASE_MS, DEFAULT_RETRY_CAP_MS,
    DEFAULT_WORKER_CONCURRENCY, OutboxSettings, WorkerSettings,
};
