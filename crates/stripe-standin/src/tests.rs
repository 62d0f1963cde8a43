use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use stripe_client_core::StripeRequest;
use stripe_webhook::{EventObject, Webhook};

use super::*;

const SECRET: &str = "whsec_test_standin";
const FORM: &str = "mode=payment&line_items[0][price]=price_install&line_items[0][quantity]=2\
                    &line_items[1][price]=price_visit&line_items[1][quantity]=1\
                    &metadata[order_id]=ORD-1&metadata[job_id]=JOB-1&customer_email=ann%40example.com\
                    &client_reference_id=ORD-1&success_url=https%3A%2F%2Fshop.example%2Fthanks\
                    &cancel_url=https%3A%2F%2Fshop.example%2Fcart";

async fn stand_in() -> StandIn {
    StandIn::spawn(StandInConfig::default())
        .await
        .expect("stand-in starts")
}

async fn post_form(s: &StandIn, body: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/checkout/sessions", s.base_url()))
        .bearer_auth("sk_test_123")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("the stand-in answers")
}

fn parse_session(body: &str) -> stripe_shared::CheckoutSession {
    miniserde::json::from_str(body)
        .unwrap_or_else(|e| panic!("not a CheckoutSession ({e}): {body}"))
}

fn parse_error(body: &str) -> stripe_shared::ApiErrors {
    let err: stripe_shared::Error =
        miniserde::json::from_str(body).unwrap_or_else(|e| panic!("not an Error ({e}): {body}"));
    *err.error
}

#[tokio::test]
async fn a_session_created_over_http_parses_as_a_checkout_session() {
    let s = stand_in().await;
    s.set_price("price_visit", 4_500);

    let response = post_form(&s, FORM, None).await;

    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let session = parse_session(&body);
    assert!(session.id.as_str().starts_with("cs_test_"));
    assert_eq!(session.amount_total, Some(2 * 10_000 + 4_500));
    assert_eq!(
        session.status,
        Some(stripe_shared::CheckoutSessionStatus::Open)
    );
    assert_eq!(
        session.payment_status,
        stripe_shared::CheckoutSessionPaymentStatus::Unpaid
    );
    assert_eq!(session.customer_email.as_deref(), Some("ann@example.com"));
    assert_eq!(
        session.customer_details.and_then(|d| d.email).as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(session.client_reference_id.as_deref(), Some("ORD-1"));
    assert_eq!(
        session.success_url.as_deref(),
        Some("https://shop.example/thanks")
    );
    let metadata = session.metadata.unwrap();
    assert_eq!(
        (metadata["order_id"].as_str(), metadata["job_id"].as_str()),
        ("ORD-1", "JOB-1")
    );
    assert_eq!(
        session.url,
        Some(format!("{}/pay/{}", s.base_url(), session.id))
    );
    assert!(!session.livemode);
    assert_eq!(s.sessions_created_for("ORD-1"), 1);
    assert_eq!(s.create_calls(), 1);

    let fetched = reqwest::Client::new()
        .get(format!(
            "{}/v1/checkout/sessions/{}",
            s.base_url(),
            session.id
        ))
        .bearer_auth("sk_test_123")
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(parse_session(&fetched.text().await.unwrap()).id, session.id);
    s.shutdown().await;
}

#[tokio::test]
async fn the_form_async_stripe_sends_for_create_checkout_session_is_understood() {
    use stripe_checkout::checkout_session::{
        CreateCheckoutSession, CreateCheckoutSessionLineItems,
    };
    let s = stand_in().await;
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some("price_install".into());
    item.quantity = Some(3);
    let metadata = [
        ("order_id".to_owned(), "ORD-42".to_owned()),
        ("service_address".to_owned(), "1 Main St & Co".to_owned()),
    ];
    let request = || {
        CreateCheckoutSession::new()
            .mode(stripe_shared::CheckoutSessionMode::Payment)
            .line_items(vec![item.clone()])
            .metadata(std::collections::HashMap::from(metadata.clone()))
            .customer_email("bob+tag@example.com")
            .client_reference_id("ORD-42")
            .success_url("https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}")
            .cancel_url("https://shop.example/cart")
    };
    let body = request().build().body.expect("a form body");

    let first = post_form(&s, &body, Some("order-ORD-42")).await;
    assert_eq!(first.status(), 200);
    let session = parse_session(&first.text().await.unwrap());
    assert_eq!(session.amount_total, Some(30_000));
    assert_eq!(
        session.customer_email.as_deref(),
        Some("bob+tag@example.com")
    );
    assert_eq!(
        session.metadata.unwrap()["service_address"],
        "1 Main St & Co"
    );
    assert_eq!(
        session.success_url.as_deref(),
        Some("https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}")
    );

    // A retry that rebuilds the request (and its HashMap) is the same request.
    let again = request().build().body.unwrap();
    let replay = post_form(&s, &again, Some("order-ORD-42")).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(parse_session(&replay.text().await.unwrap()).id, session.id);
    assert_eq!(s.sessions_created_for("ORD-42"), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_replays_and_other_parameters_are_refused() {
    let s = stand_in().await;
    let first = post_form(&s, FORM, Some("key-1")).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();

    let replay = post_form(&s, FORM, Some("key-1")).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), first_body);

    let other = post_form(&s, &FORM.replace("ORD-1", "ORD-2"), Some("key-1")).await;
    assert_eq!(other.status(), 400);
    let err = parse_error(&other.text().await.unwrap());
    assert_eq!(err.type_, stripe_shared::ApiErrorsType::IdempotencyError);

    assert_eq!(s.create_calls(), 3);
    assert_eq!(s.sessions_created_for("ORD-1"), 1);
    assert_eq!(s.sessions_created_for("ORD-2"), 0);
}

#[tokio::test]
async fn scripted_faults_are_consumed_in_order_and_do_not_record_the_key() {
    let s = stand_in().await;
    s.push_fault(Fault::Status(503));
    s.push_fault(Fault::RateLimited {
        retry_after_secs: Some(2),
    });
    s.push_fault(Fault::Drop);

    let unavailable = post_form(&s, FORM, Some("k")).await;
    assert_eq!(unavailable.status(), 503);
    let err = parse_error(&unavailable.text().await.unwrap());
    assert_eq!(err.type_, stripe_shared::ApiErrorsType::ApiError);

    let limited = post_form(&s, FORM, Some("k")).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    let err = parse_error(&limited.text().await.unwrap());
    assert_eq!(err.code, Some(stripe_shared::ApiErrorsCode::RateLimit));

    let dropped = reqwest::Client::new()
        .post(format!("{}/v1/checkout/sessions", s.base_url()))
        .bearer_auth("sk_test_123")
        .header("Idempotency-Key", "k")
        .body(FORM)
        .send()
        .await;
    assert!(
        dropped.is_err(),
        "the connection closes without an answer: {dropped:?}"
    );

    let executed = post_form(&s, FORM, Some("k")).await;
    assert_eq!(executed.status(), 200);
    assert!(executed.headers().get("idempotent-replayed").is_none());
    assert_eq!(s.create_calls(), 4);
    assert_eq!(s.sessions_created_for("ORD-1"), 1);
    assert_eq!(s.rate_limited_count(), 1);
}

#[tokio::test]
async fn a_hung_call_times_the_client_out_and_its_retry_creates_one_session() {
    let s = stand_in().await;
    s.push_fault(Fault::Hang(Duration::from_millis(300)));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let timed_out = impatient
        .post(format!("{}/v1/checkout/sessions", s.base_url()))
        .bearer_auth("sk_test_123")
        .header("Idempotency-Key", "k")
        .body(FORM)
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());

    let retry = post_form(&s, FORM, Some("k")).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(s.sessions_created_for("ORD-1"), 1);
}

#[tokio::test]
async fn random_rate_limiting_answers_429_beyond_the_cap() {
    let s = stand_in().await;
    s.set_faults(Faults {
        rate_limit_per_sec: Some(2),
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(post_form(&s, FORM, None).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429]);
    assert_eq!(s.rate_limited_count(), 3);
    assert_eq!(s.calls_per_second_peak(), 5);
}

#[tokio::test]
async fn unknown_prices_missing_keys_and_sessions_are_stripe_errors() {
    let s = stand_in().await;
    s.add_unknown_price("price_visit");

    let unknown = post_form(&s, FORM, Some("k")).await;
    assert_eq!(unknown.status(), 400);
    let body = unknown.text().await.unwrap();
    let err = parse_error(&body);
    assert_eq!(err.type_, stripe_shared::ApiErrorsType::InvalidRequestError);
    assert_eq!(
        err.code,
        Some(stripe_shared::ApiErrorsCode::ResourceMissing)
    );
    assert_eq!(err.param.as_deref(), Some("line_items[1][price]"));
    assert_eq!(err.message.as_deref(), Some("No such price: 'price_visit'"));
    // Stripe stores 4xx answers for the key.
    let replay = post_form(&s, FORM, Some("k")).await;
    assert_eq!(
        (replay.status().as_u16(), replay.text().await.unwrap()),
        (400, body)
    );

    let client = reqwest::Client::new();
    let no_key = client
        .post(format!("{}/v1/checkout/sessions", s.base_url()))
        .body(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    parse_error(&no_key.text().await.unwrap());

    let missing = client
        .get(format!(
            "{}/v1/checkout/sessions/cs_test_nope",
            s.base_url()
        ))
        .bearer_auth("sk_test_1")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        parse_error(&missing.text().await.unwrap()).code,
        Some(stripe_shared::ApiErrorsCode::ResourceMissing)
    );
    assert_eq!(s.sessions().len(), 0);
}

#[test]
fn sign_payload_matches_async_stripe() {
    let payload = r#"{"id":"evt_1"}"#;
    assert_eq!(
        sign_payload(payload, SECRET, 1_700_000_000),
        Webhook::generate_test_header(payload, SECRET, Some(1_700_000_000))
    );
}

#[tokio::test]
async fn a_built_event_is_accepted_by_construct_event() {
    let s = stand_in().await;
    s.set_webhook_target(WebhookTarget {
        url: "http://127.0.0.1:9/unused".into(),
        secret: SECRET.into(),
    });
    let id = parse_session(&post_form(&s, FORM, None).await.text().await.unwrap()).id;

    let signed = s
        .build_event("checkout.session.completed", id.as_str())
        .unwrap();

    let event = Webhook::construct_event(&signed.payload, &signed.signature_header, SECRET)
        .expect("accepted");
    assert_eq!(event.id.as_str(), signed.event_id);
    assert_eq!(event.api_version, Some(stripe_shared::version::VERSION));
    let EventObject::CheckoutSessionCompleted(session) = event.data.object else {
        panic!("not a session event")
    };
    assert_eq!(session.id, id);
    assert!(
        Webhook::construct_event(&signed.payload, &signed.signature_header, "whsec_other").is_err()
    );
    assert!(s.events().is_empty(), "built events are not recorded");
}

/// A webhook receiver that checks signatures with async-stripe and reports what it got.
async fn receiver() -> (
    WebhookTarget,
    tokio::sync::mpsc::UnboundedReceiver<stripe_webhook::Event>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhooks/stripe",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let sig = headers["stripe-signature"].to_str().unwrap_or_default();
                match Webhook::construct_event(&body, sig, SECRET) {
                    Ok(event) => {
                        let _ = tx.send(event);
                        StatusCode::OK
                    }
                    Err(_) => StatusCode::BAD_REQUEST,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        WebhookTarget {
            url,
            secret: SECRET.into(),
        },
        rx,
    )
}

#[tokio::test]
async fn completing_a_session_delivers_a_signed_event_async_stripe_accepts() {
    let (target, mut received) = receiver().await;
    let s = StandIn::spawn(StandInConfig {
        webhook: Some(target),
        ..Default::default()
    })
    .await
    .unwrap();
    let id = parse_session(&post_form(&s, FORM, None).await.text().await.unwrap()).id;

    let delivery = s
        .complete_session(id.as_str(), PaymentStatus::Paid)
        .await
        .unwrap();

    assert_eq!(delivery.status, 200);
    let event = received.recv().await.unwrap();
    assert_eq!(event.id.as_str(), delivery.event["id"]);
    let EventObject::CheckoutSessionCompleted(session) = event.data.object else {
        panic!("not completed")
    };
    assert_eq!(
        session.payment_status,
        stripe_shared::CheckoutSessionPaymentStatus::Paid
    );
    assert_eq!(s.session(id.as_str()).unwrap()["status"], "complete");
    assert!(
        s.complete_session(id.as_str(), PaymentStatus::Paid)
            .await
            .is_err(),
        "only open sessions complete"
    );

    let settled = s.async_payment(id.as_str(), false).await.unwrap();
    assert_eq!(
        settled.event["type"],
        "checkout.session.async_payment_failed"
    );
    assert_eq!(s.session(id.as_str()).unwrap()["payment_status"], "unpaid");
    let event = received.recv().await.unwrap();
    assert!(matches!(
        event.data.object,
        EventObject::CheckoutSessionAsyncPaymentFailed(_)
    ));
}

#[tokio::test]
async fn expiring_a_session_over_the_api_and_listing_events() {
    let s = stand_in().await;
    let id = parse_session(&post_form(&s, FORM, None).await.text().await.unwrap()).id;
    let other = parse_session(
        &post_form(&s, &FORM.replace("ORD-1", "ORD-2"), None)
            .await
            .text()
            .await
            .unwrap(),
    )
    .id;
    let client = reqwest::Client::new();
    let expire = |id: String| {
        client
            .post(format!("{}/v1/checkout/sessions/{id}/expire", s.base_url()))
            .bearer_auth("sk_test_1")
            .send()
    };

    let expired = expire(id.to_string()).await.unwrap();
    assert_eq!(expired.status(), 200);
    let session = parse_session(&expired.text().await.unwrap());
    assert_eq!(
        session.status,
        Some(stripe_shared::CheckoutSessionStatus::Expired)
    );
    assert_eq!(expire(id.to_string()).await.unwrap().status(), 400);
    assert!(s.expire_session(id.as_str()).await.is_err());
    let delivery = s
        .complete_session(other.as_str(), PaymentStatus::Paid)
        .await
        .unwrap();
    assert_eq!(delivery.status, 0, "no webhook target: recorded, not sent");

    let list = |query: &str| {
        let request = client
            .get(format!("{}/v1/events{query}", s.base_url()))
            .bearer_auth("sk_test_1");
        async move {
            let answer = request.send().await.unwrap();
            answer.json::<Value>().await.unwrap()
        }
    };
    let newest = list("?limit=1").await;
    assert_eq!(newest["object"], "list");
    assert_eq!(newest["has_more"], true);
    assert_eq!(newest["data"][0]["type"], "checkout.session.completed");
    let expired = list("?type=checkout.session.expired").await;
    assert_eq!(expired["data"].as_array().unwrap().len(), 1);
    assert_eq!(expired["data"][0]["data"]["object"]["id"], id.as_str());

    // A lagging list: the events of the last minute are not listed yet.
    s.set_listing_lag(Duration::from_secs(60));
    assert_eq!(list("").await["data"], serde_json::json!([]));
    s.set_listing_lag(Duration::ZERO);
    assert_eq!(list("").await["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_dev_pay_page_completes_a_session() {
    let s = StandIn::spawn(StandInConfig {
        public_base_url: Some("http://dev.local:4242/".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let session: Value = post_form(&s, FORM, None).await.json().await.unwrap();
    let id = session["id"].as_str().unwrap();
    assert_eq!(session["url"], format!("http://dev.local:4242/pay/{id}"));
    let client = reqwest::Client::new();

    let page = client
        .get(format!("{}/pay/{id}", s.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("action=\"/pay/{id}/complete\"")));
    assert!(page.contains("$300.00"));
    let done = client
        .post(format!("{}/pay/{id}/complete", s.base_url()))
        .send()
        .await
        .unwrap();

    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("https://shop.example/thanks")
    );
    assert_eq!(s.session(id).unwrap()["payment_status"], "paid");
}

#[tokio::test]
async fn refunds_and_disputes_are_stripes_sample_objects_in_stripes_order_and_refused_as_stripe_would()
 {
    let s = stand_in().await;
    let id = parse_session(&post_form(&s, FORM, None).await.text().await.unwrap()).id;
    let id = id.as_str();
    assert!(
        s.refund_silently(id, None).is_err(),
        "an open session has no charge"
    );
    s.complete_session_silently(id, PaymentStatus::Paid)
        .unwrap();
    let pi = s.session(id).unwrap()["payment_intent"].clone();
    let object = |event: &Value| event["data"]["object"].clone();

    let partial = s.refund_silently(id, Some(1_000)).unwrap();
    let types: Vec<&str> = partial
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["refund.created", "charge.refunded", "refund.updated"]
    );
    let (created, charge, updated) = (
        object(&partial[0]),
        object(&partial[1]),
        object(&partial[2]),
    );
    assert_eq!(
        (created["status"].as_str(), updated["status"].as_str()),
        (Some("pending"), Some("succeeded"))
    );
    assert_eq!(
        (created["id"].clone(), updated["amount"].as_i64()),
        (updated["id"].clone(), Some(1_000))
    );
    assert_eq!(
        (
            charge["amount_refunded"].as_i64(),
            charge["refunded"].as_bool()
        ),
        (Some(1_000), Some(false))
    );
    assert_eq!(
        (
            charge["payment_intent"].clone(),
            updated["payment_intent"].clone()
        ),
        (pi.clone(), pi.clone())
    );
    assert_eq!(updated["charge"], charge["id"]);
    // Everything else is Stripe's sample: its fields, its values.
    assert_eq!(
        charge["outcome"],
        crate::samples::sample("charge")["outcome"]
    );

    let opened = s.open_dispute_silently(id).unwrap();
    assert_eq!(opened["type"], "charge.dispute.created");
    assert_eq!(
        object(&opened)["payment_method_details"]["card"]["case_type"],
        "inquiry"
    );
    assert!(
        s.refund_silently(id, None).is_err(),
        "a disputed charge is not refunded"
    );
    assert!(
        s.open_dispute_silently(id).is_err(),
        "one dispute at a time"
    );
    let closed = s.close_dispute_silently(id, false).unwrap();
    assert_eq!(closed["type"], "charge.dispute.closed");
    assert_eq!(object(&closed)["status"], "lost");
    assert_eq!(object(&closed)["id"], object(&opened)["id"]);
    assert_eq!(object(&closed)["payment_intent"], pi);
    assert!(s.close_dispute_silently(id, true).is_err(), "closed once");
    // Recorded, so that the Events API lists them: completed + 3 + created + closed.
    assert_eq!(s.events().len(), 6);
}
