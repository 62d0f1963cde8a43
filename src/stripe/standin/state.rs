//! The stand-in's state and the operations on it. Every check-then-act runs under one lock
//! with no `.await` inside, so concurrent creates with one idempotency key cannot both execute.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::faults::{Fault, Faults};
use super::objects::{self, LineItem, StripeError};
use super::{WebhookTarget, form};

/// Unit amount (cents, usd) of any price not set with `set_price`.
pub(super) const DEFAULT_UNIT_AMOUNT: i64 = 10_000;

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Where session `url`s point (`public_base_url`, else the bound address).
    pub(super) public_base_url: String,
    pub(super) http: reqwest::Client,
}

#[derive(Default)]
pub(super) struct Inner {
    sessions: Vec<Value>,
    index: HashMap<String, usize>,
    line_items: HashMap<String, Vec<LineItem>>,
    pub events: Vec<Value>,
    idempotency: HashMap<String, Stored>,
    pub unknown_prices: HashSet<String>,
    pub prices: HashMap<String, i64>,
    pub create_calls: usize,
    /// API calls per endpoint (`GET /v1/events`), faulted ones included.
    pub calls: std::collections::BTreeMap<String, usize>,
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
}

/// The first answer given for an idempotency key.
struct Stored {
    params: Vec<(String, String)>,
    status: u16,
    body: String,
}

/// An answer to `POST /v1/checkout/sessions`.
pub(super) struct Answer {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
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

    pub fn sessions(&self) -> &[Value] {
        &self.sessions
    }
}

impl Shared {
    pub(super) fn new(
        public_base_url: String,
        webhook: Option<WebhookTarget>,
        latency: Duration,
    ) -> Self {
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
        }
    }

    /// The lock, even if a panicking test thread poisoned it: the state stays consistent
    /// because no mutation spans a panic point.
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `POST /v1/checkout/sessions`, with Stripe's idempotency rules: a key with the same
    /// parameters replays the first answer; with other parameters it is an `idempotency_error`.
    /// Only answers below 500 are stored (faults never reach here, so they are never stored).
    pub(super) fn create_session(&self, key: Option<&str>, raw_body: &str) -> Answer {
        let params = form::pairs(raw_body);
        let mut inner = self.lock();
        if let Some(key) = key
            && let Some(stored) = inner.idempotency.get(key)
        {
            if stored.params == params {
                return Answer {
                    status: stored.status,
                    body: stored.body.clone(),
                    replayed: true,
                };
            }
            let err = StripeError::idempotency(key);
            return Answer {
                status: err.status,
                body: err.body(),
                replayed: false,
            };
        }
        let answer = match self.insert_session(&mut inner, &params) {
            Ok(session) => Answer {
                status: 200,
                body: session.to_string(),
                replayed: false,
            },
            Err(err) => Answer {
                status: err.status,
                body: err.body(),
                replayed: false,
            },
        };
        if let Some(key) = key
            && answer.status < 500
        {
            let stored = Stored {
                params,
                status: answer.status,
                body: answer.body.clone(),
            };
            inner.idempotency.insert(key.to_owned(), stored);
        }
        answer
    }

    fn insert_session(
        &self,
        inner: &mut Inner,
        params: &[(String, String)],
    ) -> Result<Value, StripeError> {
        let new = form::parse_create(params)?;
        let mut amount = 0;
        for (i, item) in new.line_items.iter().enumerate() {
            if inner.unknown_prices.contains(&item.price) {
                return Err(StripeError::resource_missing(
                    "price",
                    &item.price,
                    &format!("line_items[{i}][price]"),
                ));
            }
            let unit = inner
                .prices
                .get(&item.price)
                .copied()
                .unwrap_or(DEFAULT_UNIT_AMOUNT);
            amount += unit * item.quantity;
        }
        let id = objects::random_id("cs_test_", 58);
        let url = format!("{}/pay/{id}", self.public_base_url);
        let session =
            objects::session_json(&id, &new, amount, &url, chrono::Utc::now().timestamp());
        inner.index.insert(id.clone(), inner.sessions.len());
        inner.sessions.push(session.clone());
        inner.line_items.insert(id, new.line_items);
        Ok(session)
    }

    /// Applies `change` to an existing session, records the event `event_type` for it, and
    /// returns that event. `change` refuses transitions Stripe would not make.
    pub(super) fn transition(
        &self,
        id: &str,
        event_type: &str,
        change: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<Value, StripeError> {
        let mut inner = self.lock();
        let session = inner
            .session_mut(id)
            .ok_or_else(|| StripeError::resource_missing("checkout.session", id, "session"))?;
        let mut updated = session.clone();
        change(&mut updated).map_err(|message| {
            StripeError::invalid("checkout_session_invalid_state", message, None)
        })?;
        *session = updated.clone();
        let event = objects::event_json(event_type, updated, chrono::Utc::now().timestamp());
        inner.events.push(event.clone());
        Ok(event)
    }

    /// `GET /v1/events`: newest first, Stripe's list shape; filtered by `type` (`checkout.session.*`
    /// works) or `types[]`, and `created[gte]`; paged by `starting_after` (an event id).
    pub(super) fn list_events(&self, query: &ListQuery) -> Value {
        let inner = self.lock();
        let type_matches = |actual: &str| {
            let one = |t: &str| match t.strip_suffix('*') {
                Some(prefix) => actual.starts_with(prefix),
                None => actual == t,
            };
            query.event_type.as_deref().is_none_or(one)
                && (query.types.is_empty() || query.types.iter().any(|t| one(t)))
        };
        let matching = inner.events.iter().rev().filter(|e| {
            type_matches(e["type"].as_str().unwrap_or_default())
                && query
                    .created_gte
                    .is_none_or(|gte| e["created"].as_i64().unwrap_or_default() >= gte)
        });
        page(matching, query, "/v1/events")
    }

    /// `GET /v1/checkout/sessions`: newest first, filtered by `created[gte]`, paged by
    /// `starting_after` (a session id).
    pub(super) fn list_sessions(&self, query: &ListQuery) -> Value {
        let inner = self.lock();
        let matching = inner.sessions().iter().rev().filter(|s| {
            query
                .created_gte
                .is_none_or(|gte| s["created"].as_i64().unwrap_or_default() >= gte)
        });
        page(matching, query, "/v1/checkout/sessions")
    }
}

/// The query of a list call: `limit` (1-100, default 10), `starting_after`, `created[gte]`,
/// `type`, `types[]` (repeated).
#[derive(Debug, Default)]
pub(super) struct ListQuery {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub created_gte: Option<i64>,
    pub event_type: Option<String>,
    pub types: Vec<String>,
}

impl ListQuery {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut query = ListQuery {
            limit: 10,
            ..ListQuery::default()
        };
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "limit" => query.limit = value.parse().unwrap_or(10),
                "starting_after" => query.starting_after = Some(value.into_owned()),
                "created[gte]" => query.created_gte = value.parse().ok(),
                "type" => query.event_type = Some(value.into_owned()),
                "types[]" => query.types.push(value.into_owned()),
                _ => {}
            }
        }
        query.limit = query.limit.clamp(1, 100);
        query
    }
}

/// One page of `items` (newest first) in Stripe's list shape.
fn page<'a>(items: impl Iterator<Item = &'a Value>, query: &ListQuery, url: &str) -> Value {
    let mut items = items.peekable();
    if let Some(after) = &query.starting_after {
        // Skip up to and including the object named by `starting_after`.
        for item in items.by_ref() {
            if item["id"].as_str() == Some(after.as_str()) {
                break;
            }
        }
    }
    let data: Vec<&Value> = items.by_ref().take(query.limit).collect();
    let has_more = items.peek().is_some();
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}

/// The session transitions, shared by the API, the pay page and the test handle.
pub(super) mod change {
    use serde_json::{Value, json};

    fn require_status(session: &Value, wanted: &str) -> Result<(), String> {
        let status = session["status"].as_str().unwrap_or_default();
        if status == wanted {
            Ok(())
        } else {
            Err(format!(
                "This Checkout Session is {status}; it must be {wanted}."
            ))
        }
    }

    pub fn complete(session: &mut Value, payment_status: &str) -> Result<(), String> {
        require_status(session, "open")?;
        session["status"] = json!("complete");
        session["payment_status"] = json!(payment_status);
        session["url"] = Value::Null;
        if session["mode"] == "payment" {
            session["payment_intent"] = json!(super::objects::random_id("pi_", 24));
        }
        Ok(())
    }

    pub fn expire(session: &mut Value) -> Result<(), String> {
        require_status(session, "open")?;
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        Ok(())
    }

    pub fn async_payment(session: &mut Value, succeeded: bool) -> Result<(), String> {
        require_status(session, "complete")?;
        session["payment_status"] = json!(if succeeded { "paid" } else { "unpaid" });
        Ok(())
    }
}
