use std::time::Duration;

use h2s_dispatch::checkout::request::{ReturnUrl, UrlDefaults};
use serde_json::{Value, json};
use stripe_standin::Fault;

use crate::helpers::{Options, checkout_body, spawn_app, spawn_app_with, wait_until};

#[tokio::test]
async fn a_valid_checkout_creates_one_order_one_recipient_one_linked_job_and_one_session() {
    let app = spawn_app().await;

    let response = app.post_checkout(&checkout_body("ann@example.com")).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true);
    let order_id = body["order_id"].as_str().unwrap();
    assert!(order_id.starts_with("ORD-") && order_id.len() == 20);
    let job_id = body["job_id"].as_str().unwrap();
    let session_id = body["pay"]["session_id"].as_str().unwrap();
    assert!(session_id.starts_with("cs_"));
    assert!(
        body["pay"]["session_url"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    assert!(body["checkout_trace_id"].as_str().is_some());

    assert_eq!(app.count("h2s_orders").await, 1);
    assert_eq!(app.count("h2s_recipients").await, 1);
    assert_eq!(app.count("h2s_dispatch_jobs").await, 1);
    let (linked, status, stored_session): (String, String, String) = sqlx::query_as(
        "SELECT o.dispatch_job_id::text, j.status, o.stripe_session_id FROM h2s_orders o
         JOIN h2s_dispatch_jobs j ON j.job_id = o.dispatch_job_id WHERE o.order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(linked, job_id);
    assert_eq!(status, "awaiting_payment");
    assert_eq!(stored_session, session_id);
    assert_eq!(app.stripe.sessions_created_for(order_id), 1);
    let session = app.stripe.session(session_id).unwrap();
    assert_eq!(session["metadata"]["order_id"], order_id);
    assert_eq!(session["metadata"]["job_id"], job_id);
    assert_eq!(session["client_reference_id"], order_id);

    let (code, order) = app.get_order(order_id).await;
    assert_eq!(code, 200);
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["job_status"], "awaiting_payment");
    assert_eq!(order["pay"]["session_id"], session_id);
    assert!(
        order.get("customer_email").is_none(),
        "no personal data: {order}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn two_checkouts_with_the_same_email_in_different_case_share_one_recipient() {
    let app = spawn_app().await;

    let a = app
        .post_checkout(&checkout_body("Mixed.Case@Example.com"))
        .await;
    let b = app
        .post_checkout(&checkout_body("mixed.case@example.COM"))
        .await;

    assert_eq!(a.status().as_u16(), 200);
    assert_eq!(b.status().as_u16(), 200);
    assert_eq!(app.count("h2s_orders").await, 2);
    assert_eq!(app.count("h2s_dispatch_jobs").await, 2);
    assert_eq!(app.count("h2s_recipients").await, 1);
    app.shutdown().await;
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).expect("pointer exists") = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

#[tokio::test]
async fn every_invalid_body_is_rejected_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let good = checkout_body("ann@example.com");
    let lines: Vec<Value> = (0..51)
        .map(|_| json!({"price_id": "price_1", "qty": 1}))
        .collect();
    let long_key_field = format!("metadata.{}", "k".repeat(40));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad email",
            with(good.clone(), "/customer/email", json!("not-an-email")),
            "customer.email",
        ),
        (
            "missing customer",
            without(good.clone(), "customer"),
            "customer",
        ),
        ("empty cart", with(good.clone(), "/cart", json!([])), "cart"),
        (
            "oversized cart",
            with(good.clone(), "/cart", json!(lines)),
            "cart",
        ),
        (
            "qty 0",
            with(good.clone(), "/cart/0/qty", json!(0)),
            "cart[0].qty",
        ),
        (
            "negative qty",
            with(good.clone(), "/cart/0/qty", json!(-1)),
            "cart[0].qty",
        ),
        (
            "fractional qty",
            with(good.clone(), "/cart/0/qty", json!(1.5)),
            "cart[0].qty",
        ),
        (
            "huge qty",
            with(good.clone(), "/cart/0/qty", json!(1_000_000)),
            "cart[0].qty",
        ),
        (
            "string qty",
            with(good.clone(), "/cart/0/qty", json!("1")),
            "cart[0].qty",
        ),
        (
            "bad price id",
            with(good.clone(), "/cart/0/price_id", json!("prod_123")),
            "cart[0].price_id",
        ),
        (
            "missing success_url",
            without(good.clone(), "success_url"),
            "success_url",
        ),
        (
            "relative success_url",
            with(good.clone(), "/success_url", json!("/thanks")),
            "success_url",
        ),
        (
            "ftp cancel_url",
            with(good.clone(), "/cancel_url", json!("ftp://x.example/")),
            "cancel_url",
        ),
        (
            "unknown action",
            with(good.clone(), "/__action", json!("delete_everything")),
            "__action",
        ),
        (
            "missing action",
            without(good.clone(), "__action"),
            "__action",
        ),
        (
            "nested metadata",
            with(good.clone(), "/metadata", json!({"a": {"b": "c"}})),
            "metadata.a",
        ),
        (
            "metadata not object",
            with(good.clone(), "/metadata", json!("x")),
            "metadata",
        ),
        // Stripe refuses brackets in metadata keys (they would read as nested parameters).
        (
            "metadata key with brackets",
            with(good.clone(), "/metadata", json!({"a[b]": "x"})),
            "metadata.a[b]",
        ),
        (
            "metadata key with a closing bracket",
            with(good.clone(), "/metadata", json!({"ab]": "x"})),
            "metadata.ab]",
        ),
        (
            "metadata key over 40 characters",
            with(good.clone(), "/metadata", json!({"k".repeat(41): "x"})),
            &long_key_field,
        ),
        (
            "metadata value over 500 characters",
            with(good.clone(), "/metadata", json!({"note": "v".repeat(501)})),
            "metadata.note",
        ),
        (
            "more than 20 metadata keys",
            with(
                good.clone(),
                "/metadata",
                Value::Object((0..21).map(|i| (format!("k{i}"), json!("v"))).collect()),
            ),
            "metadata",
        ),
    ];
    for (what, body, field) in cases {
        let r = app.post_checkout_in_process(&body).await;
        assert_eq!(r.status().as_u16(), 400, "{what}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["ok"], false, "{what}");
        assert_eq!(b["error"]["field"], field, "{what}: {b}");
    }

    // Through the router in-process: validation needs no socket.
    let in_process = &app;
    let raw = |content_type: &'static str, body: Vec<u8>| async move {
        Ok::<_, std::convert::Infallible>(
            in_process
                .post_checkout_raw_in_process(content_type, body)
                .await,
        )
    };
    let r = raw("application/json", b"{not json".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "non-JSON");
    let r = raw("text/plain", serde_json::to_vec(&good).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415, "wrong content type");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["field"], "content-type");
    let huge = json!({"__action": "create_checkout_session", "pad": "x".repeat(200_000)});
    let r = raw("application/json", serde_json::to_vec(&huge).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413, "body over the limit");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["field"], "body");

    assert_eq!(app.rows_written().await, 0, "an invalid request wrote rows");
    assert_eq!(app.stripe.create_calls(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_returns_the_first_response_and_one_order() {
    let app = spawn_app().await;
    let body = checkout_body("idem@example.com");

    let first: Value = app
        .post_checkout_with_key(&body, "key-1")
        .await
        .json()
        .await
        .unwrap();
    let again = app.post_checkout_with_key(&body, "key-1").await;

    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(app.count("h2s_orders").await, 1);
    assert_eq!(app.stripe.create_calls(), 1);

    let other = checkout_body("someone.else@example.com");
    let conflict = app.post_checkout_with_key(&other, "key-1").await;
    assert_eq!(conflict.status().as_u16(), 409);
    let b: Value = conflict.json().await.unwrap();
    assert_eq!(b["ok"], false);
    assert_eq!(app.count("h2s_orders").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_make_one_order() {
    let app = spawn_app().await;
    let body = checkout_body("race@example.com");

    let (a, b, c) = tokio::join!(
        app.post_checkout_with_key(&body, "race-key"),
        app.post_checkout_with_key(&body, "race-key"),
        app.post_checkout_with_key(&body, "race-key"),
    );

    for r in [a, b, c] {
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(app.count("h2s_orders").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn stripe_failing_with_500_429_and_hangs_still_completes_with_exactly_one_session() {
    let app = spawn_app_with(Options {
        stripe_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    app.stripe.push_fault(Fault::Status(500));
    app.stripe.push_fault(Fault::RateLimited {
        retry_after_secs: Some(1),
    });
    app.stripe.push_fault(Fault::Hang(Duration::from_secs(2)));
    app.stripe.push_fault(Fault::Status(503));

    let response = app.post_checkout(&checkout_body("flaky@example.com")).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let order_id = body["order_id"].as_str().unwrap();
    assert_eq!(app.stripe.sessions_created_for(order_id), 1);
    assert!(app.stripe.create_calls() >= 5, "the faults were consumed");
    assert_eq!(app.count("h2s_dispatch_jobs").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_price_fails_the_order_with_the_reason_and_calls_stripe_once() {
    let app = spawn_app().await;
    app.stripe.add_unknown_price("price_gone");
    let body = with(
        checkout_body("p@example.com"),
        "/cart/0/price_id",
        json!("price_gone"),
    );

    let response = app.post_checkout(&body).await;

    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], false);
    let order_id = body["order_id"].as_str().unwrap().to_owned();
    let (code, order) = app.get_order(&order_id).await;
    assert_eq!(code, 200);
    assert_eq!(order["status"], "failed");
    assert!(
        order["failure_reason"]
            .as_str()
            .unwrap()
            .contains("price_gone"),
        "{order}"
    );
    assert_eq!(order["job_status"], "cancelled");
    assert_eq!(app.stripe.create_calls(), 1);
    // No retry follows a refusal.
    wait_until("the task is finished", Duration::from_secs(5), || async {
        app.count("apalis.jobs WHERE status = 'Done'").await == 1
    })
    .await;
    assert_eq!(app.stripe.create_calls(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn without_a_worker_the_checkout_answers_202_and_completes_later() {
    let mut app = spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::from_millis(200),
        ..Options::default()
    })
    .await;

    let response = app.post_checkout(&checkout_body("later@example.com")).await;

    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "processing");
    let order_id = body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(body["status_url"], format!("/api/orders/{order_id}"));
    app.start_worker();
    wait_until(
        "the order gets its session",
        Duration::from_secs(10),
        || async { app.get_order(&order_id).await.1["pay"]["session_id"].is_string() },
    )
    .await;
    assert_eq!(app.stripe.sessions_created_for(&order_id), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_orders_are_404_and_health_endpoints_answer() {
    let app = spawn_app().await;
    let (code, body) = app.get_order("ORD-DOESNOTEXIST0000").await;
    assert_eq!(code, 404);
    assert_eq!(body["ok"], false);
    for path in ["/healthz", "/readyz"] {
        let r = app
            .http
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_checkout_older_than_stripes_idempotency_window_fails_instead_of_risking_a_second_session()
 {
    let app = spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    let r = app
        .post_checkout(&checkout_body("yesterday@example.com"))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let order_id = r.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sqlx::query(
        "UPDATE h2s_orders SET created_at = now() - interval '24 hours' WHERE order_id = $1",
    )
    .bind(&order_id)
    .execute(&app.pool)
    .await
    .unwrap();
    // The task carries the order's age for its first run: aged the same.
    sqlx::query(
        "UPDATE apalis.jobs SET job = convert_to(jsonb_set(convert_from(job, 'UTF8')::jsonb,
             '{inputs,created_at}', to_jsonb(now() - interval '24 hours'))::text, 'UTF8')
         WHERE idempotency_key = 'checkout:' || $1",
    )
    .bind(&order_id)
    .execute(&app.pool)
    .await
    .unwrap();

    // The worker's step, run in-process: no waiting on a real worker.
    app.run_pending_tasks().await;

    assert_eq!(
        app.order_status(&order_id).await,
        "failed",
        "the order fails"
    );
    assert_eq!(app.stripe.create_calls(), 0);
    let (_, order) = app.get_order(&order_id).await;
    assert!(
        order["failure_reason"]
            .as_str()
            .unwrap()
            .contains("23 hours")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_stripe_rate_cap_keeps_every_one_second_window_under_the_cap() {
    use h2s_dispatch::stripe::{StripeClientConfig, StripeHttp, sessions};
    let app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    let client = StripeHttp::new(StripeClientConfig {
        secret_key: secrecy::SecretString::from("sk_test_cap"),
        api_base: app.stripe.base_url(),
        timeout: Duration::from_secs(5),
        max_rps: Some(10),
    })
    .unwrap();

    // 25 calls at once from one process: the cap spaces them out.
    let calls = (0..25).map(|i| {
        let client = client.clone();
        async move { sessions::retrieve(&client, &format!("cs_test_missing_{i}")).await }
    });
    let results = futures::future::join_all(calls).await;

    assert!(
        results
            .iter()
            .all(|r| r.as_ref().err().and_then(|e| e.status()) == Some(404))
    );
    let peak = app.stripe.calls_per_second_peak();
    assert!(peak <= 10, "peak {peak} calls in one second, cap 10");
    assert!(peak >= 5, "the calls were made ({peak})");
    app.shutdown().await;
}

/// The storefront's documented test request: a phone of three digits.
fn storefront_test_request() -> Value {
    with(
        checkout_body("storefront@example.com"),
        "/customer/phone",
        json!("123"),
    )
}

/// The old backend's verified request: no `metadata`, `success_url` or `cancel_url`, and a
/// field of the storefront's own.
fn old_backend_request() -> Value {
    json!({
        "__action": "create_checkout_session",
        "customer": {"email": "Verified@Example.com", "name": "Vera", "phone": "(555) 010-0199"},
        "cart": [{"price_id": "price_123", "qty": 2}],
        "storefront_version": "2.3.1"
    })
}

fn url_defaults() -> UrlDefaults {
    UrlDefaults {
        success_url: ReturnUrl::parse(
            "https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}",
        ),
        cancel_url: ReturnUrl::parse("https://shop.example/cart"),
    }
}

#[tokio::test]
async fn the_old_storefronts_requests_get_an_order_a_job_and_a_pay_link() {
    let app = spawn_app_with(Options {
        checkout_urls: url_defaults(),
        ..Options::default()
    })
    .await;

    for (what, body) in [
        ("phone \"123\"", storefront_test_request()),
        ("no metadata, no URLs", old_backend_request()),
    ] {
        let response = app.post_checkout(&body).await;

        assert_eq!(response.status().as_u16(), 200, "{what}");
        let b: Value = response.json().await.unwrap();
        assert!(b["order_id"].as_str().is_some(), "{what}: {b}");
        assert!(b["job_id"].as_str().is_some(), "{what}: {b}");
        assert!(
            b["pay"]["session_url"]
                .as_str()
                .unwrap()
                .starts_with("http"),
            "{what}: {b}"
        );
    }

    // As typed, and normalised only where that is possible; the URL defaults (placeholder
    // kept) where the request had none, the request's own URLs otherwise.
    type Row = (String, Option<String>, Option<String>, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT customer_email, customer_phone, customer_phone_e164, success_url, cancel_url
         FROM h2s_orders ORDER BY customer_email",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "Verified@Example.com".into(),
                Some("(555) 010-0199".into()),
                None,
                "https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}".into(),
                "https://shop.example/cart".into()
            ),
            (
                "storefront@example.com".into(),
                Some("123".into()),
                None,
                "https://shop.example/thanks".into(),
                "https://shop.example/cart".into()
            ),
        ]
    );
    let sessions = app.stripe.sessions();
    assert!(
        sessions
            .iter()
            .any(|s| s["success_url"]
                == "https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}"),
        "the placeholder reaches Stripe as is"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn without_url_defaults_a_request_without_urls_is_400_naming_the_field_and_setting() {
    let app = spawn_app().await;

    let response = app.post_checkout(&old_backend_request()).await;

    assert_eq!(response.status().as_u16(), 400);
    let b: Value = response.json().await.unwrap();
    assert_eq!(b["error"]["field"], "success_url", "{b}");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(message.contains("CHECKOUT_SUCCESS_URL"), "{message}");
    assert_eq!(app.rows_written().await, 0, "nothing written");

    // The phone is never the reason: the test request, which carries its URLs, goes through.
    let response = app.post_checkout(&storefront_test_request()).await;
    assert_eq!(response.status().as_u16(), 200);
    app.shutdown().await;
}
