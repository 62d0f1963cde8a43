//! `POST /v1/checkout/sessions`: parse the form, price the line items, store the session, all
//! under one lock together with the idempotency check.

use serde_json::Value;

use crate::error::StripeError;
use crate::form;
use crate::idempotency::Answer;
use crate::objects;
use crate::state::{Inner, Shared};

/// Unit amount (cents, usd) of any price not set with `set_price`.
const DEFAULT_UNIT_AMOUNT: i64 = 10_000;

impl Shared {
    /// Creates a session, or replays the answer stored for `key` (see `idempotency.rs`).
    pub(crate) fn create_session(&self, key: Option<&str>, raw_body: &str) -> Answer {
        let params = form::pairs(raw_body);
        let mut inner = self.lock();
        if let Some(answer) = key.and_then(|key| inner.idempotency.replay(key, &params)) {
            return answer;
        }
        let answer = match self.insert_session(&mut inner, &params) {
            Ok(session) => Answer {
                status: 200,
                body: session.to_string(),
                replayed: false,
            },
            Err(err) => err.into(),
        };
        if let Some(key) = key {
            inner.idempotency.remember(key, params, &answer);
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
        (inner.intents.asked).insert(id.clone(), crate::intent_book::Asked::from(&new));
        inner.insert_session(id, session.clone(), new.line_items);
        Ok(session)
    }
}
