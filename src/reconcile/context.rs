//! What the repair steps of one sweep share: the pool, the Stripe client if any, the options,
//! the stop flag, and the report they fill in.

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgPool;

use super::{report::SweepReport, settings::SweepOptions};
use crate::stripe::StripeHttp;

pub(super) struct Ctx<'a> {
    pub(super) pool: &'a PgPool,
    /// `None` for a sweep without a Stripe key: the steps that ask Stripe are not run.
    pub(super) stripe: Option<&'a StripeHttp>,
    pub(super) options: &'a SweepOptions,
    pub(super) stop: &'a AtomicBool,
    pub(super) report: SweepReport,
}

impl Ctx<'_> {
    /// Whether to stop before the next repair (marks the report interrupted).
    pub(super) fn stopping(&mut self) -> bool {
        let stop = self.stop.load(Ordering::Relaxed);
        self.report.interrupted |= stop;
        stop
    }

    /// The Stripe client of the steps that ask Stripe, which the sweep runs only when it has
    /// one.
    pub(super) fn stripe(&self) -> &StripeHttp {
        self.stripe
            .expect("the Stripe steps run only in a sweep with a Stripe client")
    }
}
