//! The worker's attempts in flight, counted: the fetcher claims as many rows as there are
//! free slots, the service holds one slot per attempt.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// Attempts in flight in this worker: taken when a row is handed to the service, given back
/// when its attempt ends (the [`Slot`] is dropped).
#[derive(Clone, Default)]
pub(super) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub(super) fn take(&self) -> Slot {
        self.0.fetch_add(1, Ordering::AcqRel);
        Slot(self.0.clone())
    }

    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One attempt's place in [`InFlight`], given back on drop.
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
