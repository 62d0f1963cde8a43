//! The event feed, checked: every committed event reached each endpoint that wants it, at
//! least once; every delivery of one `webhook-id` carried the one committed body (so a retry
//! is recognisably the same event, and nothing uncommitted was ever sent); each order's
//! `sequence` runs 1, 2, 3... in the order its events were made; and every request verifies
//! with the Standard Webhooks reference library.

use std::{collections::HashMap, time::Duration};

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

pub async fn check_feed(
    f: &mut Findings,
    pool: &PgPool,
    receivers: &[Receiver],
    verified: Verified,
) {
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
    for receiver in receivers {
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
    let (checked, refused) = verified;
    f.count(
        "feed requests verified (Standard Webhooks)",
        checked - refused,
    );
    if refused > 0 {
        f.at_end(format!(
            "{refused} of {checked} feed requests fail the reference verifier"
        ));
    }
}

/// `(requests checked, requests refused)` by the reference verifier.
pub type Verified = (i64, i64);

/// Runs the Standard Webhooks reference verifier over the receivers' requests as they come,
/// every 30 s, until `stop` (then once more): it checks a request's timestamp against the
/// clock, with Standard Webhooks' 5-minute tolerance, so a long run cannot wait to the end.
pub fn verify_as_they_come(
    receivers: Vec<Receiver>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Verified> {
    tokio::spawn(async move {
        let mut seen = vec![0usize; receivers.len()];
        let (mut checked, mut refused) = (0i64, 0i64);
        loop {
            let last = *stop.borrow();
            let mut cases = Vec::new();
            for (i, receiver) in receivers.iter().enumerate() {
                let (_, secret) = receiver.endpoint();
                let got = receiver.received();
                for r in &got[seen[i]..] {
                    cases.push(case(&secret, r, &r.body, true));
                }
                seen[i] = got.len();
            }
            if !cases.is_empty() {
                let n = cases.len() as i64;
                let verdicts = tokio::task::spawn_blocking(move || reference_verify(&cases))
                    .await
                    .expect("the reference verifier");
                checked += n;
                refused += n - verdicts.iter().filter(|ok| **ok).count() as i64;
            }
            if last {
                return (checked, refused);
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), stop.changed()).await;
        }
    })
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
