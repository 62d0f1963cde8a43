//! The faults the stand-in can inject: random ones drawn per call, and scripted ones consumed
//! in order. The layer that applies them is `fault_layer.rs`; the state holds them.

use std::time::Duration;

/// Random faults, drawn per call (for benches and the fault suite).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Probability in `[0, 1]` that a call is answered `error_status`.
    pub error_rate: f64,
    /// Status of those errors (0 means 500).
    pub error_status: u16,
    /// Probability that a call sleeps `hang_for` before being answered normally.
    pub hang_rate: f64,
    pub hang_for: Duration,
    /// Calls admitted per sliding second; the excess is answered 429 `rate_limit`.
    pub rate_limit_per_sec: Option<u32>,
}

/// A scripted fault: the next API calls consume these in order (FIFO), one per call.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status with a Stripe error body.
    Status(u16),
    /// 429 `rate_limit`, with a `Retry-After` header when `Some`.
    RateLimited { retry_after_secs: Option<u64> },
    /// Sleep, then answer normally (a client timeout fires first).
    Hang(Duration),
    /// Close the connection without answering.
    Drop,
    /// 400 `idempotency_error`, as Stripe answers a key reused with other parameters.
    IdempotencyError,
}
