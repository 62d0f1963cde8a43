//! Secrets stay secret (issue 10): `--help` never prints them, no log line of a whole run
//! carries one, and each may come from a file (`*_FILE`).

use std::{
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use stripe_standin::{PaymentStatus, StandIn, StandInConfig, WebhookTarget};

use crate::helpers::*;

/// One run's secrets, each unique so that a hit in a log is certain.
struct Secrets {
    db_password: String,
    stripe_key: String,
    webhook_secret: String,
    admin_token: String,
    notify_url: String,
}

impl Secrets {
    fn new(notify_base: &str) -> Secrets {
        let id = || uuid::Uuid::new_v4().simple().to_string();
        Secrets {
            db_password: format!("dbpw{}", id()),
            stripe_key: format!("sk_test_{}", id()),
            webhook_secret: format!("whsec_{}", id()),
            admin_token: format!("adm{}", id()),
            notify_url: format!("{notify_base}/services/T{}", id()),
        }
    }

    fn values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("database password", self.db_password.clone()),
            ("Stripe key", self.stripe_key.clone()),
            ("webhook secret", self.webhook_secret.clone()),
            ("admin token", self.admin_token.clone()),
            ("notification URL", self.notify_url.clone()),
            // The path alone is the credential of a Slack-style URL.
            (
                "notification URL path",
                self.notify_url.rsplit('/').next().unwrap().to_owned(),
            ),
        ]
    }

    /// `url` (a server or database URL) with this run's password.
    fn with_password(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).unwrap();
        parsed.set_password(Some(&self.db_password)).unwrap();
        parsed.to_string()
    }
}

/// Where a secret leaked in `text`: its value, or a `sk_`/`whsec_` token.
fn leaks(text: &str, secrets: &Secrets) -> Vec<String> {
    let mut found = vec![];
    for (what, value) in secrets.values() {
        if text.contains(&value) {
            found.push(format!("the {what}"));
        }
    }
    // A token is the prefix and what a key is made of: prose naming the prefix (the event
    // feed's migration explains "`whsec_` + base64" in a comment, logged at debug) is none.
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/');
    for prefix in ["sk_", "whsec_"] {
        for (at, _) in text.match_indices(prefix) {
            let before = text[..at].chars().next_back();
            let after = text[at + prefix.len()..].chars().next();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && after.is_some_and(token_char)
            {
                let line = text[at..].lines().next().unwrap_or_default();
                found.push(format!("a {prefix} token: {}", &line[..line.len().min(60)]));
            }
        }
    }
    found
}

fn write_secret(dir: &std::path::Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    // With the newline an editor or `echo` leaves.
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.to_string_lossy().to_string()
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("h2s-secrets-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Slack-style receiver that fails its first call (so the retry path logs too).
async fn notify_receiver() -> (String, Arc<AtomicUsize>) {
    use axum::{Router, extract::State, http::StatusCode, routing::post};
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/services/{token}",
            post(|State(calls): State<Arc<AtomicUsize>>| async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{addr}"), calls)
}

async fn wait_for(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_help_of_every_binary_shows_no_secret_set_in_the_environment() {
    let secrets = Secrets::new("https://hooks.slack.example");
    let db = secrets.with_password("postgres://app@db.example:5432/h2s");
    for bin in [
        env!("CARGO_BIN_EXE_api"),
        env!("CARGO_BIN_EXE_worker"),
        env!("CARGO_BIN_EXE_reconcile"),
    ] {
        let out = Command::new(bin)
            .arg("--help")
            .env("DATABASE_URL", &db)
            .env("STRIPE_SECRET_KEY", &secrets.stripe_key)
            .env("STRIPE_WEBHOOK_SECRET", &secrets.webhook_secret)
            .env("ADMIN_TOKEN", &secrets.admin_token)
            .env("NOTIFY_WEBHOOK_URL", &secrets.notify_url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{bin} --help");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("DATABASE_URL_FILE"),
            "{bin}: the _FILE variant is documented"
        );
        for (what, value) in secrets.values() {
            assert!(
                !text.contains(&value),
                "{bin} --help prints the {what}:\n{text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_of_a_checkout_webhook_and_sweep_run_carries_a_secret() {
    let _serial = one_at_a_time().await;
    let (notify_base, notify_calls) = notify_receiver().await;
    let secrets = Secrets::new(&notify_base);
    let db = fresh_database_url(&main_cluster(), "faults_secrets");
    let db_with_password = secrets.with_password(&db);
    let stripe = StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in");
    let verbose = "debug,sqlx=debug,hyper=info,h2=info,rustls=info,reqwest=debug";

    // The api from the environment; the worker and the reconciler from files.
    let api = spawn_api_with(
        &["--create-database"],
        &[
            ("RUST_LOG", verbose),
            ("DATABASE_URL", &db_with_password),
            ("STRIPE_WEBHOOK_SECRET", &secrets.webhook_secret),
            ("ADMIN_TOKEN", &secrets.admin_token),
        ],
    )
    .await;
    stripe.set_webhook_target(WebhookTarget {
        url: format!("{}/api/stripe-webhook", api.base_url),
        secret: secrets.webhook_secret.clone(),
    });
    let dir = temp_dir();
    let db_file = write_secret(&dir, "database-url", &db_with_password);
    let key_file = write_secret(&dir, "stripe-secret-key", &secrets.stripe_key);
    let notify_file = write_secret(&dir, "notify-webhook-url", &secrets.notify_url);
    let stripe_base = stripe.base_url();
    let mut worker = spawn_worker_with(
        &["--retry-base-ms", "50", "--retry-cap-ms", "200"],
        &[
            ("RUST_LOG", verbose),
            ("DATABASE_URL_FILE", &db_file),
            ("STRIPE_SECRET_KEY_FILE", &key_file),
            ("NOTIFY_WEBHOOK_URL_FILE", &notify_file),
            ("STRIPE_API_BASE", &stripe_base),
        ],
    )
    .await;

    // Checkout → session.
    let http = reqwest::Client::new();
    let posted = post_checkout(&http, &api.base_url, "secret@example.com", "secret-1").await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    let order_id = posted.order_id.clone().unwrap();
    let session_id = posted.body["pay"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Webhook → paid → the notification (refused once, then delivered).
    let delivery = stripe
        .complete_session(&session_id, PaymentStatus::Paid)
        .await
        .expect("delivered");
    assert_eq!(delivery.status, 200);
    wait_for("the notification", Duration::from_secs(20), async || {
        notify_calls.load(Ordering::SeqCst) >= 2
    })
    .await;

    // Admin with the token (and once without the right one).
    let admin = |token: String| {
        http.get(format!("{}/api/admin/orders?status=paid", api.base_url))
            .bearer_auth(token)
            .send()
    };
    let ok = admin(secrets.admin_token.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert!(body.to_string().contains(&order_id));
    assert_eq!(admin("wrong".into()).await.unwrap().status(), 401);

    // Sweep.
    let mut sweep = Proc::spawn_with_env(
        "reconcile",
        env!("CARGO_BIN_EXE_reconcile"),
        &["--once".into(), "--json".into()],
        &[
            ("RUST_LOG", verbose),
            ("DATABASE_URL_FILE", &db_file),
            ("STRIPE_SECRET_KEY_FILE", &key_file),
            ("STRIPE_API_BASE", &stripe_base),
        ],
    );
    let code = sweep.exit_code_within(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{}", sweep.log_tail(20));

    worker.terminate(Duration::from_secs(30));
    let mut api = api;
    api.proc.terminate(Duration::from_secs(10));

    let mut lines = 0;
    for proc in [&api.proc, &worker, &sweep] {
        let text = proc.log_text();
        lines += text.lines().count();
        let found = leaks(&text, &secrets);
        assert!(found.is_empty(), "{}: {found:?}", proc.log.display());
    }
    // The scan saw a real run, with the database URL logged in its masked form.
    assert!(lines > 20, "only {lines} log lines");
    assert!(
        api.proc.log_text().contains("***@"),
        "the masked database URL"
    );
    crate::report!(
        "[faults/secrets] {lines} log lines of api, worker and reconcile scanned: no secret, no sk_/whsec_ token"
    );
    std::fs::remove_dir_all(dir).ok();
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reads_its_secrets_from_files_and_a_missing_file_is_one_line_naming_it() {
    let _serial = one_at_a_time().await;
    let secrets = Secrets::new("http://127.0.0.1:9");
    let db = fresh_database_url(&main_cluster(), "faults_files");
    let dir = temp_dir();
    let db_file = write_secret(&dir, "database-url", &secrets.with_password(&db));
    let webhook_file = write_secret(&dir, "webhook", &secrets.webhook_secret);
    let token_file = write_secret(&dir, "token", &secrets.admin_token);
    let api = spawn_api_with(
        &["--create-database"],
        &[
            ("DATABASE_URL_FILE", &db_file),
            ("STRIPE_WEBHOOK_SECRET_FILE", &webhook_file),
            ("ADMIN_TOKEN_FILE", &token_file),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let admin = |token: &str| {
        http.get(format!("{}/api/admin/orders", api.base_url))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(admin(&secrets.admin_token).await.unwrap().status(), 200);
    assert_eq!(admin("not-the-token").await.unwrap().status(), 401);
    // The webhook checks signatures with the file's secret.
    // Stripe's own sample event (a type the webhook acknowledges and ignores).
    let payload = include_str!("../fixtures/stripe/event.envelope.json");
    let now = chrono::Utc::now().timestamp();
    let deliver = |secret: &str| {
        http.post(format!("{}/api/stripe-webhook", api.base_url))
            .header("content-type", "application/json")
            .header(
                "Stripe-Signature",
                stripe_standin::sign_payload(payload, secret, now),
            )
            .body(payload)
            .send()
    };
    assert_eq!(
        deliver(&secrets.webhook_secret).await.unwrap().status(),
        200
    );
    assert_eq!(deliver("whsec_other").await.unwrap().status(), 400);
    drop(api);

    let missing = dir.join("no-such-file").to_string_lossy().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .env("RUST_LOG", "off")
        .env("STRIPE_SECRET_KEY_FILE", &missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("STRIPE_SECRET_KEY_FILE"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
    drop_database(&db).await;
}

#[test]
fn the_leak_scan_finds_any_token_but_not_prose_naming_its_prefix() {
    let secrets = Secrets::new("http://127.0.0.1:1");
    let prose = "secret TEXT, -- `whsec_` + base64; a key starts sk_ and its mode";
    assert_eq!(leaks(prose, &secrets), Vec::<String>::new());
    for token in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "sk_live_51Hxyz",
        "whsec_+/ab",
    ] {
        let line = format!("signing with {token} now");
        assert_eq!(leaks(&line, &secrets).len(), 1, "{token}");
    }
}
