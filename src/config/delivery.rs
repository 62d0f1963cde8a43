//! The event feed's delivery loop's settings (the worker's, and `api --dev`'s defaults).

use std::time::Duration;

use clap::Args;

use crate::events::{
    address::AddressPolicy,
    delivery::{
        DeliveryConfig,
        settings::{
            DEFAULT_DELIVERY_TIMEOUT_MS, DEFAULT_ENDPOINT_CONCURRENCY,
            DEFAULT_EVENT_LOG_RETENTION_DAYS,
        },
    },
};

#[derive(Debug, Clone, Args)]
pub struct DeliverySettings {
    /// The longest one event delivery may take, in milliseconds (connecting, sending and the
    /// receiver's answer); past it the attempt failed and is retried on the schedule.
    #[arg(long, env = "EVENT_DELIVERY_TIMEOUT_MS", default_value_t = DEFAULT_DELIVERY_TIMEOUT_MS)]
    pub event_delivery_timeout_ms: u64,
    /// Event deliveries in flight at once to one endpoint (across the worker's replicas), so
    /// that a slow or dead endpoint holds only these and never delays another.
    #[arg(long, env = "EVENT_ENDPOINT_CONCURRENCY", default_value_t = DEFAULT_ENDPOINT_CONCURRENCY)]
    pub event_endpoint_concurrency: u32,
    /// Days the delivery log (every attempt) and the delivered or failed deliveries are kept.
    #[arg(long, env = "EVENT_LOG_RETENTION_DAYS", default_value_t = DEFAULT_EVENT_LOG_RETENTION_DAYS)]
    pub event_log_retention_days: u32,
}

impl Default for DeliverySettings {
    /// The flags' defaults (`api --dev`'s worker has no delivery flags).
    fn default() -> Self {
        DeliverySettings {
            event_delivery_timeout_ms: DEFAULT_DELIVERY_TIMEOUT_MS,
            event_endpoint_concurrency: DEFAULT_ENDPOINT_CONCURRENCY,
            event_log_retention_days: DEFAULT_EVENT_LOG_RETENTION_DAYS,
        }
    }
}

impl DeliverySettings {
    pub fn config(&self, policy: AddressPolicy) -> DeliveryConfig {
        DeliveryConfig {
            policy,
            timeout: Duration::from_millis(self.event_delivery_timeout_ms.max(100)),
            endpoint_concurrency: self.event_endpoint_concurrency.max(1),
            retention: Duration::from_secs(
                u64::from(self.event_log_retention_days.max(1)) * 86_400,
            ),
            ..DeliveryConfig::new(policy)
        }
    }
}
