//! The event feed, checked: every committed event reached each endpoint that wants it, at
//! least once; every delivery of one `webhook-id` carried the one committed body (so a retry
//! is recognisably the same event, and nothing uncommitted was ever sent); each order's
//! `sequence` runs 1, 2, 3... in the order its events were made; and every request verifies
//! with the Standard Webhooks reference library.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::{
    chaos::{checker::Findings, feed::Receiver},
    event_feed::{case, reference_verify},
};

#[derive(sqlx::FromRow)]
struct EventRow {
    event_id: String,
    event_type: String,
    order_id: String,
    sequence: i64,
    body: String,
}

pub async fn check_feed(f: &mut Findings, pool: &PgPool, receivers: &[Receiver]) {
    let events: Vec<EventRow> =
        sqlx::query_as("SELECT event_id, event_type, order_id, sequence, body FROM h2s_events")
            .fetch_all(pool)
            .await
            .expect("the events");
    f.count("feed events committed", events.len() as i64);
    let bodies: HashMap<&str, &str> = events
        .iter()
        .map(|e| (e.event_id.as_str(), e.body.as_str()))
        .collect();
    let mut cases = Vec::new();
    for receiver in receivers {
        let (_, secret) = receiver.endpoint();
        let got = receiver.received();
        let wants =
            |t: &str| receiver.name == "healthy" || crate::chaos::feed::FLAKY_TYPES.contains(&t);
        let mut taken: HashMap<&str, usize> = HashMap::new();
        for r in &got {
            match bodies.get(r.id.as_str()) {
                None => f.at_end(format!(
                    "{} got {}, an event never committed",
                    receiver.name, r.id
                )),
                Some(body) if *body != r.body => f.at_end(format!(
                    "{} got {} with a body other than the committed one",
                    receiver.name, r.id
                )),
                Some(_) if r.accepted => *taken.entry(r.id.as_str()).or_default() += 1,
                Some(_) => {}
            }
            cases.push(case(&secret, r, &r.body, true));
        }
        let wanted: Vec<&EventRow> = events.iter().filter(|e| wants(&e.event_type)).collect();
        let missing = wanted
            .iter()
            .filter(|e| !taken.contains_key(e.event_id.as_str()));
        for e in missing {
            f.at_end(format!(
                "{} never got {} ({} of order {})",
                receiver.name, e.event_id, e.event_type, e.order_id
            ));
        }
        let name = receiver.name;
        f.count(&format!("feed deliveries to {name}"), got.len() as i64);
        let again = taken.values().map(|n| *n as i64 - 1).sum::<i64>();
        f.count(&format!("feed events taken twice or more by {name}"), again);
    }
    check_sequences(f, &events);
    let verdicts = reference_verify(&cases);
    let refused = verdicts.iter().filter(|ok| !**ok).count() as i64;
    f.count(
        "feed requests verified (Standard Webhooks)",
        verdicts.len() as i64 - refused,
    );
    if refused > 0 || verdicts.len() != cases.len() {
        f.at_end(format!(
            "{refused} of {} feed requests fail the reference verifier",
            cases.len()
        ));
    }
}

/// Per order: sequences 1..=n, each once, their bodies' timestamps in the same order.
fn check_sequences(f: &mut Findings, events: &[EventRow]) {
    let mut per_order: HashMap<&str, Vec<(i64, String)>> = HashMap::new();
    for e in events {
        let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
        let stamp = body["timestamp"].as_str().unwrap_or_default().to_owned();
        if body["data"]["sequence"] != e.sequence {
            f.at_end(format!(
                "{} says sequence {} in its body",
                e.event_id, body["data"]["sequence"]
            ));
        }
        per_order
            .entry(e.order_id.as_str())
            .or_default()
            .push((e.sequence, stamp));
    }
    for (order, mut seq) in per_order {
        seq.sort();
        let gapless = seq.iter().enumerate().all(|(i, (s, _))| *s == i as i64 + 1);
        let in_time = seq.windows(2).all(|w| w[0].1 <= w[1].1);
        if !gapless || !in_time {
            let numbers: Vec<i64> = seq.iter().map(|(s, _)| *s).collect();
            f.at_end(format!(
                "order {order}: its events' sequences {numbers:?} are not 1, 2, 3... in time order"
            ));
        }
    }
}
