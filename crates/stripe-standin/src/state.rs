//! The stand-in's state and the lock around it. Every check-then-act runs under one lock with
//! no `.await` inside, so concurrent creates with one idempotency key cannot both execute.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::WebhookTarget;
use crate::error::StripeError;
use crate::faults::{Fault, Faults};
use crate::idempotency::IdempotencyKeys;
use crate::objects::LineItem;

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Where session `url`s point (`public_base_url`, else the bound address).
    pub public_base_url: String,
    pub http: reqwest::Client,
    /// While `true`, a created session's answer waits (`StandIn::hold_session_answers`).
    pub session_answers_held: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
pub(crate) struct Inner {
    sessions: Vec<Value>,
    index: HashMap<String, usize>,
    line_items: HashMap<String, Vec<LineItem>>,
    pub events: Vec<Value>,
    pub idempotency: IdempotencyKeys,
    pub unknown_prices: HashSet<String>,
    pub prices: HashMap<String, i64>,
    pub create_calls: usize,
    /// API calls per endpoint (`GET /v1/events`), faulted ones included.
    pub calls: BTreeMap<String, usize>,
    pub webhook: Option<WebhookTarget>,
    pub latency: Duration,
    pub faults: Faults,
    pub scripted: VecDeque<Fault>,
    /// Arrival times of API calls within the last second (for the peak).
    received: VecDeque<Instant>,
    /// Calls the rate limiter let through within the last second.
    admitted: VecDeque<Instant>,
    pub peak_per_sec: usize,
    pub rate_limited: usize,
    /// Paid sessions' charges, by PaymentIntent (refunds and disputes).
    pub(crate) charges: HashMap<String, crate::charge::Charge>,
    /// Refunds made through `POST /v1/refunds` (`refunds.rs`).
    pub(crate) refunds: crate::refund_book::RefundBook,
    /// Completed sessions' PaymentIntents (`intents.rs`), holds among them (`holds.rs`).
    pub(crate) intents: crate::intent_book::IntentBook,
    /// The API version events are rendered in, when a test set one (else [`crate::API_VERSION`]).
    pub api_version: Option<String>,
    /// How long after its `created` an event first appears in `GET /v1/events`
    /// (`StandIn::set_listing_lag`); zero unless a test set it.
    pub listing_lag: Duration,
}

fn trim(window: &mut VecDeque<Instant>, now: Instant) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        window.pop_front();
    }
}

impl Inner {
    pub fn note_call(&mut self, now: Instant) {
        trim(&mut self.received, now);
        self.received.push_back(now);
        self.peak_per_sec = self.peak_per_sec.max(self.received.len());
    }

    /// Sliding-window limiter: true when this call fits within `limit` per second.
    pub fn admit(&mut self, now: Instant, limit: u32) -> bool {
        trim(&mut self.admitted, now);
        if self.admitted.len() >= limit as usize {
            return false;
        }
        self.admitted.push_back(now);
        true
    }

    pub fn session(&self, id: &str) -> Option<&Value> {
        self.index.get(id).map(|i| &self.sessions[*i])
    }

    fn session_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.index.get(id).map(|i| &mut self.sessions[*i])
    }

    /// Applies `change` to an existing session; the session as it now is. `change` refuses
    /// transitions Stripe would not make.
    pub fn change_session(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<Value, StripeError> {
        let session = self
            .session_mut(id)
            .ok_or_else(|| StripeError::resource_missing("checkout.session", id, "session"))?;
        let mut updated = session.clone();
        change(&mut updated).map_err(|message| {
            StripeError::invalid("checkout_session_invalid_state", message, None)
        })?;
        *session = updated.clone();
        Ok(updated)
    }

    pub fn sessions(&self) -> &[Value] {
        &self.sessions
    }

    /// Adds a new session (its `id` must be new) and the line items it was created with.
    pub fn insert_session(&mut self, id: String, session: Value, line_items: Vec<LineItem>) {
        self.index.insert(id.clone(), self.sessions.len());
        self.sessions.push(session);
        self.line_items.insert(id, line_items);
    }
}

impl Shared {
    pub fn new(public_base_url: String, webhook: Option<WebhookTarget>, latency: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let inner = Inner {
            webhook,
            latency,
            ..Inner::default()
        };
        Self {
            inner: Mutex::new(inner),
            public_base_url,
            http,
            session_answers_held: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The lock, even if a panicking test thread poisoned it: the state stays consistent
    /// because no mutation spans a panic point.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `change` to an existing session, records the event `event_type` for it, and
    /// returns that event. `change` refuses transitions Stripe would not make.
    pub fn transition(
        &self,
        id: &str,
        event_type: &str,
        change: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<Value, StripeError> {
        let mut inner = self.lock();
        let updated = inner.change_session(id, change)?;
        Ok(inner.record(event_type, updated))
    }
}
