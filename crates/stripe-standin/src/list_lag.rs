//! A lagging `GET /v1/events`: what a listing from a cursor can miss.

use std::time::Duration;

use crate::handle::StandIn;

impl StandIn {
    /// From now on, `GET /v1/events` lists an event only `lag` after its `created`: a list
    /// that lags behind what happened, so that a caller listing from a cursor can step past
    /// an event it never saw. Zero (the default) lists every event at once.
    pub fn set_listing_lag(&self, lag: Duration) {
        self.shared.lock().listing_lag = lag;
    }
}
