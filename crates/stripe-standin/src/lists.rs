//! The list calls, `GET /v1/events` and `GET /v1/checkout/sessions`: newest first, in Stripe's
//! list shape, paged by `starting_after`.

use serde_json::Value;

use crate::state::Shared;

/// The query of a list call: `limit` (1-100, default 10), `starting_after`, `created[gte]`,
/// `type`, `types[]` (repeated), `payment_intent` (sessions).
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub created_gte: Option<i64>,
    pub event_type: Option<String>,
    pub types: Vec<String>,
    pub payment_intent: Option<String>,
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
                "payment_intent" => query.payment_intent = Some(value.into_owned()),
                _ => {}
            }
        }
        query.limit = query.limit.clamp(1, 100);
        query
    }
}

impl Shared {
    /// `GET /v1/events`: filtered by `type` (`checkout.session.*` works) or `types[]`, and
    /// `created[gte]`; `starting_after` is an event id. An event younger than the listing lag
    /// is not listed yet.
    pub(crate) fn list_events(&self, query: &ListQuery) -> Value {
        let inner = self.lock();
        let lag = i64::try_from(inner.listing_lag.as_secs()).unwrap_or(i64::MAX / 2);
        let listable_until = crate::charge::now() - lag;
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
                && e["created"].as_i64().unwrap_or_default() <= listable_until
                && query
                    .created_gte
                    .is_none_or(|gte| e["created"].as_i64().unwrap_or_default() >= gte)
        });
        page(matching, query, "/v1/events")
    }

    /// `GET /v1/checkout/sessions`: filtered by `created[gte]` and `payment_intent`;
    /// `starting_after` is a session id.
    pub(crate) fn list_sessions(&self, query: &ListQuery) -> Value {
        let inner = self.lock();
        let matching = inner.sessions().iter().rev().filter(|s| {
            query
                .created_gte
                .is_none_or(|gte| s["created"].as_i64().unwrap_or_default() >= gte)
                && query
                    .payment_intent
                    .as_deref()
                    .is_none_or(|pi| s["payment_intent"].as_str() == Some(pi))
        });
        page(matching, query, "/v1/checkout/sessions")
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
    crate::samples::list(data.into_iter().cloned().collect(), has_more, url)
}
