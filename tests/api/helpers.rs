//! Test harness: each test gets a fresh database, its own Stripe stand-in on `127.0.0.1:0`,
//! the real API on port 0 and, unless told otherwise, the real worker in-process.

use std::{future::Future, time::Duration};

use h2s_dispatch::{
    app::{ApiConfig, Application, Stop, WorkerConfig, run_worker},
    checkout::request::UrlDefaults,
    config::{ApiSettings, WorkerSettings},
    stripe::StripeClientConfig,
};
use secrecy::SecretString;
use stripe_standin::{StandIn, StandInConfig, WebhookTarget};

use crate::settings;
pub use crate::test_db::TestDatabase;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;

pub const WEBHOOK_SECRET: &str = "whsec_test_secret_for_integration_tests";
pub const ADMIN_TOKEN: &str = "admin-test-token";

#[derive(Clone)]
pub struct Options {
    pub start_worker: bool,
    pub checkout_wait: Duration,
    /// The api's request timeout (tower-http).
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    pub stripe_timeout: Duration,
    pub notify_webhook_url: Option<String>,
    /// The api gets a Stripe key (for admin sweeps); SPEC's deployment gives it none.
    pub api_stripe_key: bool,
    /// `CHECKOUT_SUCCESS_URL` / `CHECKOUT_CANCEL_URL` (none by default).
    pub checkout_urls: UrlDefaults,
    /// `STRIPE_WEBHOOK_SECRET` as given (a comma-separated list during a rotation); the
    /// stand-in signs with [`WEBHOOK_SECRET`] whatever this is.
    pub webhook_secret: String,
    /// `--stripe-mode`, for an api without a key.
    pub stripe_mode: Option<&'static str>,
    /// `--event-endpoints-allow-private`: receivers on 127.0.0.1 over plain http.
    pub event_endpoints_allow_private: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            start_worker: true,
            checkout_wait: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_retries: 6,
            retry_base: Duration::from_millis(50),
            stripe_timeout: Duration::from_millis(800),
            notify_webhook_url: None,
            api_stripe_key: true,
            checkout_urls: UrlDefaults::default(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            stripe_mode: None,
            event_endpoints_allow_private: false,
        }
    }
}

pub struct Worker {
    stop: Stop,
    handle: JoinHandle<anyhow::Result<()>>,
}

pub struct TestApp {
    pub base_url: String,
    pub pool: PgPool,
    pub database_url: String,
    pub stripe: StandIn,
    pub http: reqwest::Client,
    pub options: Options,
    /// The api's router, for requests that need no socket ([`TestApp::oneshot`]).
    router: axum::Router,
    api_stop: Stop,
    worker: Option<Worker>,
    /// Dropped last (fields drop in order): when the test passes, the database goes too.
    _database: TestDatabase,
}

/// A fresh, migrated database (dropped when the test passes, kept when it fails).
pub async fn fresh_database() -> TestDatabase {
    TestDatabase::migrated(20).await
}

/// A fresh database with nothing in it, not migrated: where a test builds an old schema.
pub async fn empty_database() -> TestDatabase {
    TestDatabase::empty(20).await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    spawn_app_on(fresh_database().await, options).await
}

/// The app on a database that already exists and is migrated (an adopted one, say).
pub async fn spawn_app_on(database: TestDatabase, options: Options) -> TestApp {
    let (pool, database_url) = (database.pool.clone(), database.url.clone());
    let stripe = StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in");
    let app = Application::build(pool.clone(), api_config(&options, &stripe))
        .await
        .expect("api builds");
    let base_url = format!("http://{}", app.local_addr());
    stripe.set_webhook_target(WebhookTarget {
        url: format!("{base_url}/api/stripe-webhook"),
        secret: WEBHOOK_SECRET.to_string(),
    });
    let router = app.router();
    let api_stop = Stop::default();
    tokio::spawn(app.run(api_stop.stopped()));
    let mut test_app = TestApp {
        base_url,
        pool,
        database_url,
        stripe,
        http: reqwest::Client::new(),
        options: options.clone(),
        _database: database,
        router,
        api_stop,
        worker: None,
    };
    if options.start_worker {
        test_app.start_worker();
    }
    test_app
}

/// The api's and the worker's settings as `main` would parse them from these options' flags.
fn parsed_settings(options: &Options) -> (ApiSettings, WorkerSettings) {
    let ms = |d: Duration| d.as_millis().to_string();
    let mut args = settings::args([
        ("--bind", "127.0.0.1:0".into()),
        ("--admin-token", ADMIN_TOKEN.into()),
        ("--concurrency", "8".into()),
        ("--max-retries", options.max_retries.to_string()),
        ("--retry-base-ms", ms(options.retry_base)),
        ("--retry-cap-ms", "500".into()),
        ("--poll-interval-ms", "100".into()),
    ]);
    if let Some(url) = &options.notify_webhook_url {
        args.extend(settings::args([("--notify-webhook-url", url.clone())]));
    }
    if let Some(mode) = options.stripe_mode {
        args.extend(settings::args([("--stripe-mode", mode.to_owned())]));
    }
    if options.event_endpoints_allow_private {
        args.push("--event-endpoints-allow-private".into());
    }
    settings::parse(&args)
}

/// The api's configuration as `main` builds it, with this test's waits.
fn api_config(options: &Options, stripe: &StandIn) -> ApiConfig {
    let (api, worker) = parsed_settings(options);
    let stripe = options.api_stripe_key.then(|| StripeClientConfig {
        secret_key: SecretString::from("sk_test_integration"),
        api_base: stripe.base_url(),
        timeout: options.stripe_timeout,
        max_rps: None,
    });
    let mut config = api
        .api_config(
            SecretString::from(options.webhook_secret.clone()),
            stripe,
            &worker,
            options.checkout_urls.clone(),
        )
        .expect("the api's settings");
    // Set after the settings' check: a test of the 503 `timeout` answer wants a request
    // timeout shorter than the checkout wait, which the settings refuse.
    config.checkout_wait = options.checkout_wait;
    config.request_timeout = options.request_timeout;
    config
}

impl TestApp {
    /// The worker's configuration as `main` builds it, with a 1 s heartbeat (not a flag) so
    /// that a dead worker's tasks come back within seconds.
    pub fn worker_config(&self) -> WorkerConfig {
        let (_, worker) = parsed_settings(&self.options);
        let mut config = worker.worker_config(
            StripeClientConfig {
                secret_key: SecretString::from("sk_test_integration"),
                api_base: self.stripe.base_url(),
                timeout: self.options.stripe_timeout,
                max_rps: None,
            },
            "test-worker",
        );
        config.runtime.heartbeat = Duration::from_secs(1);
        config.runtime.missed_heartbeats = 3;
        config
    }

    pub fn start_worker(&mut self) {
        assert!(self.worker.is_none(), "worker already running");
        let stop = Stop::default();
        let handle = tokio::spawn(run_worker(
            self.pool.clone(),
            self.worker_config(),
            stop.stopped(),
        ));
        self.worker = Some(Worker { stop, handle });
    }

    /// Runs the outbox in-process, one task at a time, until it is empty (tasks the runs
    /// enqueue included), as the worker would with this app's settings: for tests that are not
    /// about concurrency (`start_worker: false`). Returns how many attempts ran.
    pub async fn run_pending_tasks(&self) -> usize {
        let config = self.worker_config();
        let tasks = h2s_dispatch::worker::Tasks::new(
            self.pool.clone(),
            h2s_dispatch::stripe::StripeHttp::new(config.stripe).expect("a Stripe client"),
            h2s_dispatch::notify::Notifier::new(config.notify_webhook_url),
        );
        crate::outbox_steps::run_pending_tasks(
            &self.pool,
            &tasks,
            config.runtime.retry.max_attempts(),
            100,
        )
        .await
    }

    pub async fn stop_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            w.stop.stop();
            w.handle.await.expect("worker task").expect("worker ran");
        }
    }

    pub async fn post_checkout(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/api/shop", self.base_url))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_checkout_with_key(&self, body: &Value, key: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/shop", self.base_url))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_order(&self, order_id: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/api/orders/{order_id}", self.base_url))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn count(&self, sql_from_where: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {sql_from_where}"
        )))
        .fetch_one(&self.pool)
        .await
        .expect("count query")
    }

    /// Rows in every table a checkout writes to.
    pub async fn rows_written(&self) -> i64 {
        self.count("h2s_orders").await
            + self.count("h2s_recipients").await
            + self.count("h2s_dispatch_jobs").await
            + self.count("apalis.jobs").await
    }

    pub async fn order_status(&self, order_id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM h2s_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .expect("order exists")
    }

    pub async fn shutdown(mut self) {
        self.stop_worker().await;
        self.api_stop.stop();
    }
}

/// Waits for `check` to hold, polling every 20 ms, up to `deadline`; panics with `what`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn checkout_body(email: &str) -> Value {
    json!({
        "__action": "create_checkout_session",
        "customer": {"email": email, "name": "Ann", "phone": "+15551234567"},
        "cart": [{"price_id": "price_123", "qty": 1}],
        "metadata": {"service_address": "123 Test St"},
        "success_url": "https://shop.example/thanks",
        "cancel_url": "https://shop.example/cart"
    })
}

impl TestApp {
    /// Posts a webhook delivery as Stripe would.
    /// One request through the api's router in-process (`tower::ServiceExt::oneshot`, no
    /// socket), answered as a `reqwest::Response` so that tests read it as any other.
    pub async fn oneshot(
        &self,
        request: axum::http::Request<axum::body::Body>,
    ) -> reqwest::Response {
        use tower::ServiceExt;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the response body");
        reqwest::Response::from(axum::http::Response::from_parts(parts, bytes))
    }

    /// `POST /api/shop` with `body` as it is and `content_type`, through [`TestApp::oneshot`].
    pub async fn post_checkout_raw_in_process(
        &self,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.oneshot(
            axum::http::Request::post("/api/shop")
                .header("content-type", content_type)
                .body(axum::body::Body::from(body))
                .expect("a request"),
        )
        .await
    }

    /// A checkout body through [`TestApp::oneshot`].
    pub async fn post_checkout_in_process(&self, body: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(body).expect("a JSON body");
        self.post_checkout_raw_in_process("application/json", body)
            .await
    }

    /// A webhook delivery through [`TestApp::oneshot`].
    pub async fn deliver_in_process(
        &self,
        payload: &str,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = axum::http::Request::post("/api/stripe-webhook")
            .header("content-type", "application/json");
        if let Some(sig) = signature {
            request = request.header("Stripe-Signature", sig);
        }
        self.oneshot(
            request
                .body(axum::body::Body::from(payload.to_owned()))
                .expect("a request"),
        )
        .await
    }

    pub async fn deliver(&self, payload: &str, signature: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/api/stripe-webhook", self.base_url))
            .header("content-type", "application/json")
            .body(payload.to_owned());
        if let Some(sig) = signature {
            req = req.header("Stripe-Signature", sig);
        }
        req.send().await.expect("webhook request")
    }

    /// A checkout through the API; returns `(order_id, session_id)`.
    pub async fn checkout(&self, email: &str) -> (String, String) {
        let r = self.post_checkout(&checkout_body(email)).await;
        assert_eq!(r.status().as_u16(), 200, "checkout");
        let b: Value = r.json().await.unwrap();
        (
            b["order_id"].as_str().unwrap().to_owned(),
            b["pay"]["session_id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn job_status(&self, order_id: &str) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM h2s_dispatch_jobs WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await
            .expect("job query")
    }
}

/// A local stand-in for the management channel (a Slack-compatible incoming webhook).
pub struct NotifyReceiver {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl NotifyReceiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: std::net::SocketAddr) -> Self {
        use axum::{Json, Router, extract::State, routing::post};
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State(r): State<std::sync::Arc<std::sync::Mutex<Vec<Value>>>>,
                     Json(v): Json<Value>| async move {
                        r.lock().unwrap().push(v);
                        "ok"
                    },
                ),
            )
            .with_state(received.clone());
        // Serves until the test's runtime ends.
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        NotifyReceiver {
            url: format!("http://{addr}/hook"),
            received,
        }
    }

    /// A URL on which nothing listens yet; `start_on(addr)` later brings it up.
    pub async fn reserve_addr() -> std::net::SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl TestApp {
    /// Creates a Checkout Session directly at the stand-in (as if another process had, or an
    /// older system), for an order id that may or may not be ours. Two units of `price_9`.
    pub async fn create_session_at_stripe(
        &self,
        email: &str,
        order_id: &str,
        extra_metadata: &[(&str, &str)],
    ) -> String {
        let mut form: Vec<(String, String)> = vec![
            ("mode".into(), "payment".into()),
            ("line_items[0][price]".into(), "price_9".into()),
            ("line_items[0][quantity]".into(), "2".into()),
            ("customer_email".into(), email.into()),
            ("client_reference_id".into(), order_id.into()),
            ("metadata[order_id]".into(), order_id.into()),
        ];
        for (k, v) in extra_metadata {
            form.push((format!("metadata[{k}]"), (*v).into()));
        }
        let created: Value = self
            .http
            .post(format!("{}/v1/checkout/sessions", self.stripe.base_url()))
            .bearer_auth("sk_test_x")
            .form(&form)
            .send()
            .await
            .expect("stand-in answers")
            .json()
            .await
            .expect("a session");
        created["id"].as_str().expect("session id").to_owned()
    }
}

impl TestApp {
    /// GET an admin URL with the admin token; the JSON body.
    pub async fn admin_get(&self, url: String) -> Value {
        self.http
            .get(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin request")
            .json()
            .await
            .expect("admin JSON")
    }

    /// POST to an admin URL with the admin token.
    pub async fn admin_post(&self, url: String) -> reqwest::Response {
        self.http
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin request")
    }
}

impl TestApp {
    /// Marks the order's checkout task dead (retries exhausted), as a database outage
    /// through every attempt would leave it. (Stripe errors no longer kill a checkout task:
    /// they are not the order's fault, and the task waits them out.) Run it with the worker
    /// stopped, so that no attempt is in flight.
    pub async fn kill_checkout_task(&self, order_id: &str) {
        let done = sqlx::query(
            "UPDATE apalis.jobs
             SET status = 'Failed', attempts = $2, max_attempts = $2, lock_by = NULL,
                 lock_at = NULL
             WHERE idempotency_key = $1",
        )
        .bind(format!("checkout:{order_id}"))
        .bind(self.worker_config().runtime.retry.max_attempts())
        .execute(&self.pool)
        .await
        .expect("kill the task");
        assert_eq!(done.rows_affected(), 1, "the order has its checkout task");
    }
}
