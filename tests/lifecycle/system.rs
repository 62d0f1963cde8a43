//! The real system for one case: a fresh database (copied from a migrated template), the api
//! in-process on port 0, a Stripe stand-in on `127.0.0.1:0` that records events but delivers
//! none (the case decides when each webhook arrives), and the worker's task handler driven
//! one task at a time by this file, as apalis would run it, so a case is deterministic.

use std::{sync::Arc, time::Duration};

use h2s_dispatch::{
    app::{Application, Stop},
    config::{ApiSettings, WorkerSettings},
    dispatch, invariant,
    notify::Notifier,
    orders::{OrderId, OrderStatus, repo},
    outbox::{OutboxTask, QUEUE, attempt_limit},
    queue::TaskHandler,
    reconcile::{self, SweepOptions},
    stripe::{StripeClientConfig, StripeHttp, sessions},
    worker::Tasks,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use stripe_standin::{Faults, PaymentStatus, StandIn, StandInConfig, sign_payload};

use crate::model::{Action, HoldTasks, MAX_ATTEMPTS, Task};
use crate::outbox_steps;
use crate::script::{Crash, StripeFault};
use crate::settings;
use crate::test_db::{TestDatabase, drop_now};

const WEBHOOK_SECRET: &str = "whsec_lifecycle_model";
pub(crate) const ADMIN_TOKEN: &str = "admin-lifecycle-model";
/// The Stripe client's per-call timeout (with room for a loaded machine, so that only the
/// `timeout` fault times out); that fault hangs calls for twice as long.
const STRIPE_TIMEOUT: Duration = Duration::from_millis(500);

/// A migrated database that each case copies (`CREATE DATABASE ... TEMPLATE`): a copy costs a
/// fraction of running the migrations. Named like every test database, so CI's cleanup finds
/// it should a run be killed.
pub struct Template {
    pub name: String,
}

impl Template {
    pub async fn create() -> Template {
        // Kept past the value: the cases copy it, and `drop` removes it.
        let (name, _, pool) = TestDatabase::migrated(2).await.keep();
        pool.close().await;
        Template { name }
    }

    pub async fn drop(self) {
        drop_now(&self.name).await;
    }
}

/// What the database says about one order, in the model's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub status: OrderStatus,
    pub job: Option<String>,
    /// The job is named by `dispatch_job_id` and by `metadata_json.dispatch_job_id`.
    pub linked: bool,
    pub session_stored: bool,
    pub checkout: Task,
    /// `None`: no notification task.
    pub notify: Option<Task>,
    pub notify_dispute: Option<Task>,
    pub amount_refunded: i64,
    /// The operator's refund requests' statuses, oldest first.
    pub requests: Vec<String>,
    /// The order knows its (current attempt's) PaymentIntent.
    pub pi_known: bool,
    /// Per payment attempt that has any, the holds' tasks.
    pub holds: Vec<HoldTasks>,
}

/// The holds' task kinds, in the order a drain runs them.
const HOLD_TASKS: [&str; 4] = ["check_hold", "capture", "release", "pay_link"];

pub struct System {
    pub pool: PgPool,
    db: String,
    pub stripe: StandIn,
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    tasks: Tasks,
    sweeper: StripeHttp,
    api_stop: Stop,
    pub orders: Vec<OrderId>,
    /// Per order, the events Stripe generated, in order.
    pub events: Vec<Vec<Value>>,
}

fn stripe_client(stripe: &StandIn) -> StripeHttp {
    StripeHttp::new(StripeClientConfig {
        secret_key: SecretString::from("sk_test_lifecycle"),
        api_base: stripe.base_url(),
        timeout: STRIPE_TIMEOUT,
        max_rps: None,
    })
    .expect("a Stripe client")
}

/// The api's configuration as `main` builds it: no Stripe key (the model's checkouts carry
/// their URLs), the worker's policy the model's, and no wait for the worker, which this file
/// drives.
fn parsed_settings() -> (Arc<ApiSettings>, Arc<WorkerSettings>) {
    let (mut api, worker) = settings::parse(&settings::args([
        ("--bind", "127.0.0.1:0".into()),
        ("--admin-token", ADMIN_TOKEN.into()),
        ("--checkout-wait-ms", "0".into()),
        ("--max-retries", (MAX_ATTEMPTS - 1).to_string()),
    ]));
    api.http.stripe_webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
    (Arc::new(api), Arc::new(worker))
}

impl System {
    pub async fn start(template: &Template) -> System {
        // Dropped by `stop`, whatever the case's outcome (proptest shrinks a failure through
        // many more cases).
        let (db, _, pool) = TestDatabase::copy_of(&template.name, 8).await.keep();
        // No webhook target: Stripe records events and sends none; `deliver` sends them.
        let stripe = StandIn::spawn(StandInConfig::default())
            .await
            .expect("the Stripe stand-in");
        let (api_settings, worker_settings) = parsed_settings();
        let app = Application::build(pool.clone(), api_settings, None)
            .await
            .expect("the api builds");
        let base_url = format!("http://{}", app.local_addr());
        let api_stop = Stop::default();
        tokio::spawn(app.run(api_stop.stopped()));
        System {
            tasks: Tasks::new(
                pool.clone(),
                stripe_client(&stripe),
                Notifier::new(None),
                worker_settings,
            ),
            sweeper: stripe_client(&stripe),
            pool,
            db,
            stripe,
            base_url,
            http: reqwest::Client::new(),
            api_stop,
            orders: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Stops the api and drops the database (`WITH (FORCE)`: the api's `LISTEN` connection
    /// is still open; its task ends with the case's runtime).
    pub async fn stop(self) {
        self.api_stop.stop();
        drop(self.stripe);
        drop_now(&self.db).await;
    }

    /// Carries out one action; `Err` when the system answers other than the contract says.
    pub async fn run(&mut self, action: Action, key: Option<u8>) -> Result<(), String> {
        match action {
            Action::NewOrder(manual) => {
                let order_id = self.checkout(key, manual).await?;
                if self.orders.contains(&order_id) {
                    return Err(format!("a new checkout answered an old order {order_id}"));
                }
                self.orders.push(order_id);
                self.events.push(Vec::new());
            }
            Action::Replay(o, manual) => {
                let order_id = self.checkout(key, manual).await?;
                if order_id != self.orders[o] {
                    return Err(format!(
                        "a repeated checkout with its key answered {order_id}, not {}",
                        self.orders[o]
                    ));
                }
            }
            Action::Step(o, crash) => {
                let order_id = self.orders[o].clone();
                self.step(&format!("checkout:{order_id}"), crash).await;
            }
            Action::Drain { stripe_ok } => {
                if stripe_ok {
                    self.drain_refunds().await;
                }
                for (o, order_id) in self.orders.clone().into_iter().enumerate() {
                    for kind in [
                        "checkout",
                        "notify_paid",
                        "notify_dispute",
                        "ensure_dispatch_job",
                    ] {
                        self.step(&format!("{kind}:{order_id}"), None).await;
                    }
                    if stripe_ok {
                        self.drain_holds(o).await;
                    }
                }
            }
            Action::Fault(fault) => self.stripe.set_faults(faults(fault)),
            Action::Complete(o, paid) => {
                let session = self.session_id(o).await;
                let status = if paid {
                    PaymentStatus::Paid
                } else {
                    PaymentStatus::Unpaid
                };
                // A held payment's events come first (`charge.succeeded`,
                // `payment_intent.amount_capturable_updated`), the session's last.
                let before = self.stripe.events().len();
                self.stripe
                    .complete_session_silently(&session, status)
                    .map_err(|e| format!("Stripe refused to complete: {e}"))?;
                let made = self.stripe.events().split_off(before);
                self.events[o].extend(made);
            }
            Action::Lapse(o) => {
                let session = self.session_id(o).await;
                let pi = (self.stripe.session(&session))
                    .and_then(|s| s["payment_intent"].as_str().map(str::to_owned))
                    .ok_or("the held session has no PaymentIntent")?;
                let events = self
                    .stripe
                    .lapse_hold_silently(&pi)
                    .map_err(|e| format!("Stripe refused to lapse the hold: {e}"))?;
                self.events[o].extend(events);
            }
            Action::PayLink { order, accepted } => {
                let url = format!(
                    "{}/api/admin/orders/{}/pay-link",
                    self.base_url, self.orders[order]
                );
                let response = (self.http.post(&url).bearer_auth(ADMIN_TOKEN).send())
                    .await
                    .map_err(|e| format!("pay-link: {e}"))?;
                let status = response.status().as_u16();
                if (accepted, status) != (true, 202) && (accepted, status) != (false, 409) {
                    let body = response.text().await.unwrap_or_default();
                    return Err(format!(
                        "pay-link answered {status} {body}; the model expected {}",
                        if accepted { "202" } else { "409" }
                    ));
                }
            }
            Action::PayAfterExpiry(o) => {
                let session = self.session_id(o).await;
                let mut object = self.stripe.session(&session).expect("the session");
                object["status"] = json!("complete");
                object["payment_status"] = json!("paid");
                self.events[o].push(json!({
                    "id": format!("evt_late_{}", uuid::Uuid::new_v4().simple()),
                    "object": "event",
                    "api_version": stripe_standin::API_VERSION,
                    "created": chrono::Utc::now().timestamp(),
                    "livemode": false,
                    "pending_webhooks": 1,
                    "request": {"id": null, "idempotency_key": null},
                    "type": "checkout.session.completed",
                    "data": {"object": object},
                }));
            }
            Action::AsyncPayment(o, succeeded) => {
                let session = self.session_id(o).await;
                let delivery = self
                    .stripe
                    .async_payment(&session, succeeded)
                    .await
                    .map_err(|e| format!("Stripe refused the async payment: {e}"))?;
                self.events[o].push(delivery.event);
            }
            Action::Expire(o) => {
                let session = self.session_id(o).await;
                let delivery = self
                    .stripe
                    .expire_session(&session)
                    .await
                    .map_err(|e| format!("Stripe refused to expire: {e}"))?;
                self.events[o].push(delivery.event);
            }
            Action::Deliver(o, nth) => {
                let payload = self.events[o][nth].to_string();
                let signature =
                    sign_payload(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
                let response = self
                    .http
                    .post(format!("{}/api/stripe-webhook", self.base_url))
                    .header("content-type", "application/json")
                    .header("Stripe-Signature", signature)
                    .body(payload)
                    .send()
                    .await
                    .map_err(|e| format!("webhook: {e}"))?;
                if response.status().as_u16() != 200 {
                    return Err(format!("the webhook answered {}", response.status()));
                }
            }
            Action::Refund(o, amount) => {
                let session = self.session_id(o).await;
                let events = self
                    .stripe
                    .refund_silently(&session, Some(amount))
                    .map_err(|e| format!("Stripe refused to refund: {e}"))?;
                self.events[o].extend(events);
            }
            Action::OpenDispute(o) => {
                let session = self.session_id(o).await;
                let event = self
                    .stripe
                    .open_dispute_silently(&session)
                    .map_err(|e| format!("Stripe refused a dispute: {e}"))?;
                self.events[o].push(event);
            }
            Action::CloseDispute(o, won) => {
                let session = self.session_id(o).await;
                let event = self
                    .stripe
                    .close_dispute_silently(&session, won)
                    .map_err(|e| format!("Stripe refused to close the dispute: {e}"))?;
                self.events[o].push(event);
            }
            Action::Sweep(dry_run) => {
                let options = SweepOptions {
                    dry_run,
                    requeue_after: Duration::ZERO,
                    revive_after: Duration::ZERO,
                    ..SweepOptions::default()
                };
                let report = reconcile::sweep(&self.pool, &self.sweeper, &options)
                    .await
                    .map_err(|e| format!("the sweep did not run: {e}"))?;
                if !dry_run && report.invariant_violations_after != 0 {
                    return Err(format!("after a sweep the invariant fails: {report:?}"));
                }
            }
            Action::RequestRefund { .. } | Action::JobAct { .. } => self.operator(action).await?,
            Action::AdminRetry(o) => {
                let key = format!("checkout:{}", self.orders[o]);
                let id: String =
                    sqlx::query_scalar(r#"SELECT id FROM apalis.jobs WHERE idempotency_key = $1"#)
                        .bind(&key)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| format!("the checkout task of {key}: {e}"))?;
                let response = self
                    .http
                    .post(format!("{}/api/admin/outbox/{id}/retry", self.base_url))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .map_err(|e| format!("admin retry: {e}"))?;
                if response.status().as_u16() != 200 {
                    return Err(format!("admin retry answered {}", response.status()));
                }
            }
        }
        Ok(())
    }

    async fn checkout(&self, key: Option<u8>, manual: bool) -> Result<OrderId, String> {
        let mut body = json!({
            "__action": "create_checkout_session",
            "customer": {"email": "ann@example.com", "name": "Ann", "phone": "+15551234567"},
            "cart": [{"price_id": "price_123", "qty": 1}],
            "metadata": {"service_address": "123 Test St"},
            "success_url": "https://shop.example/thanks",
            "cancel_url": "https://shop.example/cart"
        });
        if manual {
            body["capture"] = json!("manual");
        }
        let mut request = self
            .http
            .post(format!("{}/api/shop", self.base_url))
            .json(&body);
        if let Some(k) = key {
            request = request.header("Idempotency-Key", format!("key-{k}"));
        }
        let response = request.send().await.map_err(|e| format!("checkout: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(format!("checkout answered {status}: {body}"));
        }
        body["order_id"]
            .as_str()
            .and_then(OrderId::parse)
            .ok_or_else(|| format!("checkout answered no order id: {body}"))
    }

    /// The holds' tasks of order `o`, each attempt's (up to the order's current one) in turn,
    /// each run once if runnable; the events Stripe recorded for each call go to the order's
    /// list.
    async fn drain_holds(&mut self, o: usize) {
        let order_id = self.orders[o].clone();
        let attempt: i32 =
            sqlx::query_scalar(r#"SELECT pay_attempt FROM h2s_orders WHERE order_id = $1"#)
                .bind(&order_id)
                .fetch_one(&self.pool)
                .await
                .expect("the order's payment attempt");
        // Those runnable now (a hold's task makes no other), then each in its turn.
        let keys: Vec<String> = (0..=attempt)
            .flat_map(|a| HOLD_TASKS.map(|kind| format!("{kind}:{order_id}:{a}")))
            .collect();
        let runnable: Vec<String> = sqlx::query_scalar(
            r#"
            SELECT idempotency_key FROM apalis.jobs
            WHERE idempotency_key = ANY($1)
              AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
            "#,
        )
        .bind(&keys)
        .fetch_all(&self.pool)
        .await
        .expect("the holds' runnable tasks");
        for key in keys.iter().filter(|k| runnable.contains(k)) {
            let before = self.stripe.events().len();
            self.step(key, None).await;
            let made = self.stripe.events().split_off(before);
            self.events[o].extend(made);
        }
    }

    async fn session_id(&self, o: usize) -> String {
        sqlx::query_scalar(r#"SELECT stripe_session_id FROM h2s_orders WHERE order_id = $1"#)
            .bind(&self.orders[o])
            .fetch_one(&self.pool)
            .await
            .expect("the order's session")
    }

    /// One attempt of the task with this idempotency key, if it is runnable: claimed, handed
    /// to the worker's handler (or dying at `crash`), and its row updated as the outbox
    /// runtime does (`Done`; a failed attempt counted, an outage always keeping one more;
    /// `Killed` for a permanent error; a crash spends an attempt and nothing else).
    pub(crate) async fn step(&self, key: &str, crash: Option<Crash>) {
        let Some(runnable) = outbox_steps::next_runnable(&self.pool, Some(key)).await else {
            return;
        };
        let task = runnable.task.clone();
        let attempt = outbox_steps::attempt(&runnable);
        let outcome = match (crash, &task) {
            (Some(Crash::BeforeJob), _) => None,
            (
                Some(Crash::AfterStripeCall),
                OutboxTask::Checkout {
                    order_id,
                    inputs,
                    checkout_trace_id,
                    ..
                },
            ) => {
                let carried = inputs.as_deref().filter(|_| attempt.number() == 1);
                let carried =
                    carried.and_then(|i| i.clone().session_inputs(order_id, *checkout_trace_id));
                self.until_stripe_call(order_id, carried).await;
                None
            }
            (Some(Crash::AfterStoring), _) => {
                let _ = self.tasks.handle(task, attempt).await;
                None
            }
            (Some(Crash::AfterStripeCall), _) | (None, _) => {
                Some(self.tasks.handle(task, attempt).await)
            }
        };
        outbox_steps::finish(&self.pool, &runnable, outcome, MAX_ATTEMPTS).await;
    }

    /// `checkout::fulfil` up to its Stripe call, through the functions it runs: the order's
    /// inputs as the task carries them (its first attempt) or read, the session requested
    /// under the order's idempotency key with the job id derived from the order; nothing
    /// written.
    async fn until_stripe_call(&self, order_id: &OrderId, carried: Option<repo::SessionInputs>) {
        let order = match carried {
            Some(order) => order,
            None => {
                let order = repo::session_inputs(&self.pool, order_id)
                    .await
                    .expect("the order")
                    .expect("the order exists");
                let payable = order.status.known() == Some(OrderStatus::PendingPayment);
                if order.stripe_session_id.is_some() || !payable {
                    return;
                }
                order
            }
        };
        let job_id = order
            .dispatch_job_id
            .unwrap_or_else(|| dispatch::job_id_for(order_id));
        let _ = sessions::create(&self.tasks.stripe, &order, job_id).await;
    }

    pub async fn seen(&self, o: usize) -> Seen {
        let order_id = &self.orders[o];
        let (status, job, linked, session_stored, amount_refunded, pi_known): (
            String,
            Option<String>,
            bool,
            bool,
            i64,
            bool,
        ) = sqlx::query_as(
            r#"
                SELECT o.status,
                       j.status,
                       (j.job_id IS NOT NULL AND o.dispatch_job_id = j.job_id
                        AND o.metadata_json->>'dispatch_job_id' = j.job_id::text),
                       o.stripe_session_id IS NOT NULL,
                       o.amount_refunded,
                       o.stripe_payment_intent_id IS NOT NULL
                FROM h2s_orders o LEFT JOIN h2s_dispatch_jobs j ON j.order_id = o.order_id
                WHERE o.order_id = $1
                "#,
        )
        .bind(order_id)
        .fetch_one(&self.pool)
        .await
        .expect("the order");
        Seen {
            status: OrderStatus::parse(&status).expect("a known status"),
            job,
            linked,
            session_stored,
            amount_refunded,
            requests: self.requests(o).await,
            pi_known,
            ..self.tasks_of(order_id).await
        }
    }

    /// The order's outbox tasks, in one query: its checkout task, its notifications, and
    /// per payment attempt (up to the last that has one) its hold's.
    async fn tasks_of(&self, order_id: &OrderId) -> Seen {
        let keys = ["checkout", "notify_paid", "notify_dispute"].map(|k| format!("{k}:{order_id}"));
        let holds = HOLD_TASKS.map(|kind| format!("{kind}:{order_id}:%"));
        let rows: Vec<(String, String, i32, i32)> = sqlx::query_as(
            r#"
            SELECT idempotency_key, status, attempts, max_attempts FROM apalis.jobs
            WHERE idempotency_key = ANY($1) OR idempotency_key LIKE ANY($2)
            "#,
        )
        .bind(keys.to_vec())
        .bind(holds.to_vec())
        .fetch_all(&self.pool)
        .await
        .expect("the order's tasks");
        let mut seen = Seen {
            status: OrderStatus::PendingPayment,
            job: None,
            linked: false,
            session_stored: false,
            checkout: Task::Done,
            notify: None,
            notify_dispute: None,
            amount_refunded: 0,
            requests: Vec::new(),
            pi_known: false,
            holds: Vec::new(),
        };
        let mut checkout = None;
        for (key, status, attempts, max) in rows {
            let task = Some(task_of(&status, attempts, max));
            match keys.iter().position(|k| *k == key) {
                Some(0) => checkout = task,
                Some(1) => seen.notify = task,
                Some(2) => seen.notify_dispute = task,
                _ => {
                    let (kind, attempt) = key.rsplit_once(':').expect("kind:order:attempt");
                    let kind = kind.split_once(':').expect("kind:order").0;
                    let attempt: usize = attempt.parse().expect("an attempt number");
                    if seen.holds.len() <= attempt {
                        seen.holds.resize(attempt + 1, HoldTasks::default());
                    }
                    let tasks: &mut HoldTasks = &mut seen.holds[attempt];
                    match kind {
                        "check_hold" => tasks.check = task,
                        "capture" => tasks.capture = task,
                        "release" => tasks.release = task,
                        _ => tasks.pay_link = task,
                    }
                }
            }
        }
        seen.checkout = checkout.expect("every order has its checkout task");
        seen
    }

    /// Jobs of the order (the schema allows one; counted all the same).
    pub async fn jobs(&self, o: usize) -> i64 {
        sqlx::query_scalar(r#"SELECT count(*) FROM h2s_dispatch_jobs WHERE order_id = $1"#)
            .bind(&self.orders[o])
            .fetch_one(&self.pool)
            .await
            .expect("count jobs")
    }

    pub async fn invariant_violations(&self) -> i64 {
        invariant::count(&self.pool)
            .await
            .expect("the invariant query")
    }

    /// Outbox rows neither done nor dead: the queue is drained when this is 0.
    pub async fn runnable_tasks(&self) -> i64 {
        sqlx::query_scalar(
            r#"
            SELECT count(*) FROM apalis.jobs
            WHERE job_type = $1
              AND (status IN ('Pending', 'Queued', 'Running')
                   OR (status = 'Failed' AND attempts < max_attempts))
            "#,
        )
        .bind(QUEUE)
        .fetch_one(&self.pool)
        .await
        .expect("count tasks")
    }
}

/// An outbox row in the model's terms, with the limit the worker applies, as the console
/// shows it (a row no attempt has failed yet carries none of its own).
fn task_of(status: &str, attempts: i32, max: i32) -> Task {
    let max = attempt_limit(max, MAX_ATTEMPTS);
    match status {
        "Done" => Task::Done,
        "Killed" => Task::Dead { attempts, max },
        "Failed" if attempts >= max => Task::Dead { attempts, max },
        _ => Task::Live { attempts, max },
    }
}

fn faults(fault: Option<StripeFault>) -> Faults {
    let error = |status| Faults {
        error_rate: 1.0,
        error_status: status,
        ..Faults::default()
    };
    match fault {
        None => Faults::default(),
        Some(StripeFault::S500) => error(500),
        Some(StripeFault::S429) => error(429),
        Some(StripeFault::S401) => error(401),
        Some(StripeFault::Timeout) => Faults {
            hang_rate: 1.0,
            hang_for: STRIPE_TIMEOUT * 2,
            ..Faults::default()
        },
    }
}
