//! Settings the api and the worker both read: one section, flattened once into each of
//! their trees (and once into `api --dev`, which runs the worker on the api's). A setting
//! both processes read goes here, and each reads it where it is used: a handler as
//! `state.settings.shared.<field>`, a job as `tasks.settings.shared.<field>`.

use clap::Args;

use crate::queue::defaults::DEFAULT_MAX_RETRIES;

#[derive(Debug, Clone, Args)]
pub struct SharedSettings {
    /// Retries of a failing outbox task before it is parked as dead.
    #[arg(long, env = "WORKER_MAX_RETRIES", default_value_t = DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    /// Allow event endpoints on plain http and on loopback, private and other non-public
    /// addresses (local receivers and tests). Read by the api, which checks an endpoint's URL
    /// when it is created, and by the worker, which checks every address it connects to.
    #[arg(long, env = "EVENT_ENDPOINTS_ALLOW_PRIVATE", default_value_t = false)]
    pub event_endpoints_allow_private: bool,
    /// How a checkout's payment is taken when its request does not choose (`"capture"`):
    /// `automatic` (charged at checkout) or `manual` (held at checkout, captured when the job
    /// is completed). Read by the api, which stores it on each new order, and the worker.
    #[arg(long, env = "PAYMENT_CAPTURE", default_value = "automatic")]
    pub payment_capture: crate::orders::CaptureMethod,
}

impl SharedSettings {
    /// Every attempt a task gets (`WORKER_MAX_RETRIES` + 1): the worker applies it, the api
    /// shows it for a task no worker has failed yet (`outbox::attempt_limit`).
    pub fn max_attempts(&self) -> i32 {
        crate::queue::RetryPolicy {
            max_retries: self.max_retries,
            base: std::time::Duration::ZERO,
            cap: std::time::Duration::ZERO,
        }
        .max_attempts()
    }

    /// Where event endpoints may point (`--event-endpoints-allow-private`).
    pub fn event_endpoints(&self) -> crate::events::address::AddressPolicy {
        crate::events::address::AddressPolicy {
            allow_private: self.event_endpoints_allow_private,
        }
    }
}
