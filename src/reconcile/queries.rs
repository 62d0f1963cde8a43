//! What the sweep's queries share: the statement type (`db::Stmt`, which carries its
//! arguments so that the sweep runs exactly what `plans::explain` shows) and the keyset
//! cursor. The queries themselves sit in the step that runs them (the outbox's housekeeping
//! in `outbox::housekeeping`, the one writer of its table beside the runner).
//!
//! Each query reads only the rows its repair may touch, through a partial index, in batches
//! (`LIMIT`) and with a keyset cursor `(created_at, order_id)` so that a row that fails to
//! repair is not read again within the same sweep. Ages are compared with the database's
//! `now()`, never this process's clock.

use super::settings::SweepOptions;

pub use crate::{db::Stmt, orders::Cursor};

/// Binds the keyset page, a statement's last three parameters: rows after `after`, at most
/// one batch.
pub(super) trait Page {
    fn page(self, after: &Cursor, options: &SweepOptions) -> Self;
}

impl Page for Stmt {
    fn page(self, after: &Cursor, options: &SweepOptions) -> Self {
        self.bind(after.created_at)
            .bind(after.order_id.clone())
            .bind(limit(options))
    }
}

pub(super) fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

pub(super) fn limit(options: &SweepOptions) -> i64 {
    i64::from(options.batch_size.max(1))
}
