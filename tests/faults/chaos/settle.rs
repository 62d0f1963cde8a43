//! After the faults: one final sweep (`reconcile --once`) and the operator's replay of the
//! feed deliveries the flaky receiver missed, again until the system is quiet (no task, no
//! delivery and no webhook in flight, every order where its money says) or a deadline
//! passes; the checker then judges whatever state this reached.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::chaos::{
    checker::{self, Findings},
    client::Client,
    feed::Receiver,
    truth::Truth,
    workload::Record,
};

/// What is still moving: outbox tasks not done, orders without a session or a job, refund
/// requests unsettled, feed deliveries not delivered.
pub async fn in_flight(pool: &PgPool) -> Vec<(String, i64)> {
    let queries = [
        (
            "outbox tasks not done",
            "SELECT count(*) FROM apalis.jobs WHERE status <> 'Done'",
        ),
        (
            "orders without a session or a job",
            "SELECT count(*) FROM h2s_orders WHERE stripe_session_id IS NULL OR dispatch_job_id IS NULL",
        ),
        (
            "refund requests unsettled",
            "SELECT count(*) FROM h2s_refund_requests WHERE status = 'requested'",
        ),
        (
            "feed deliveries not delivered",
            "SELECT count(*) FROM h2s_event_deliveries WHERE status <> 'delivered'",
        ),
    ];
    let mut moving = Vec::new();
    for (what, sql) in queries {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or(-1);
        if n != 0 {
            moving.push((what.to_owned(), n));
        }
    }
    moving
}

/// One sweep, as an operator runs it: `reconcile --once --json`; its exit code.
pub async fn final_sweep(db: &str, stripe: &str) -> Option<i32> {
    let exe = std::env::var("CHAOS_BIN_DIR")
        .map(|d| format!("{d}/reconcile"))
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_reconcile").to_owned());
    let args = [
        "--database-url",
        db,
        "--stripe-secret-key",
        "sk_test_chaos",
        "--stripe-api-base",
        stripe,
        "--once",
        "--json",
    ];
    let mut command = tokio::process::Command::new(exe);
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .kill_on_drop(true);
    let run = tokio::time::timeout(Duration::from_secs(60), command.output()).await;
    run.ok()?.ok()?.status.code()
}

/// The operator replays (same `webhook-id`) every delivery to `receiver` that is not
/// delivered and not about to be retried (the schedule's next attempt is minutes away); how
/// many.
async fn replay_missed(pool: &PgPool, client: &Client, receiver: &Receiver) -> i64 {
    let (endpoint, _) = receiver.endpoint();
    let ids: Vec<i64> = sqlx::query_scalar(
        r#"
        SELECT delivery_id FROM h2s_event_deliveries
        WHERE endpoint_id = $1::uuid AND status <> 'delivered'
          AND (status = 'failed' OR next_attempt_at > now() + interval '5 seconds')
        "#,
    )
    .bind(endpoint)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    for id in &ids {
        let path = format!("/api/admin/event-deliveries/{id}/replay");
        client
            .until_answered(
                "",
                "feed.replay",
                0,
                &path,
                Some(&serde_json::json!({})),
                None,
            )
            .await;
    }
    ids.len() as i64
}

/// What the settling reached.
pub struct Settled {
    /// What was still moving at the end.
    pub moving: Vec<(String, i64)>,
    /// The last final sweep's exit code.
    pub sweep: Option<i32>,
    /// Deliveries the operator replayed, per receiver.
    pub replayed: Vec<(&'static str, i64)>,
}

/// Sweeps and replays until nothing moves and every order is where its money says, or
/// `deadline`; what was still moving then.
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    pool: &PgPool,
    db: &str,
    stripe: &stripe_standin::StandIn,
    client: &Client,
    receivers: &[Receiver],
    records: &[Record],
    relay_busy: impl Fn() -> usize,
    deadline: Duration,
) -> Settled {
    let end = Instant::now() + deadline;
    let mut replayed: Vec<(&'static str, i64)> = receivers.iter().map(|r| (r.name, 0)).collect();
    loop {
        let sweep = final_sweep(db, &stripe.base_url()).await;
        for (i, receiver) in receivers.iter().enumerate() {
            replayed[i].1 += replay_missed(pool, client, receiver).await;
        }
        let mut moving = in_flight(pool).await;
        if relay_busy() > 0 {
            moving.push(("webhooks in flight".to_owned(), relay_busy() as i64));
        }
        let mut scratch = Findings::default();
        let truth = Truth::read(&stripe.sessions(), &stripe.events());
        checker::check_orders(&mut scratch, &checker::orders(pool).await, records, &truth);
        if !scratch.breaches.is_empty() {
            moving.push((
                "orders not yet where Stripe says".to_owned(),
                scratch.breaches.len() as i64,
            ));
        }
        if (moving.is_empty() && sweep == Some(0)) || Instant::now() > end {
            return Settled {
                moving,
                sweep,
                replayed,
            };
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
