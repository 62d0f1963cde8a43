//! Holds (`intents.rs`, `holds.rs`, `intent_routes.rs`, `hold_controls.rs`): a manual-capture
//! session paid is only authorized, with Stripe's events; captures (full, partial, once per
//! idempotency key however many ask at once), cancels and lapses as Stripe makes and refuses
//! them; every object and event parsed by async-stripe.

use std::time::{Duration, Instant};

use serde_json::Value;
use stripe_webhook::{EventObject, Webhook};

use super::*;

const SECRET: &str = "whsec_test_holds";
const MANUAL: &str = "mode=payment&line_items[0][price]=price_visit&line_items[0][quantity]=1\
                      &metadata[order_id]=ORD-H&payment_intent_data[capture_method]=manual\
                      &payment_intent_data[metadata][order_id]=ORD-H\
                      &success_url=https%3A%2F%2Fshop.example%2Fthanks";

async fn call(s: &StandIn, path: &str, body: Option<&str>, key: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", s.base_url());
    let mut request = match body {
        Some(body) => client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned()),
        None => client.get(url),
    };
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let answer = request.bearer_auth("sk_test_1").send().await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

/// A paid session of `form` (10_000 cents), completed silently: its PaymentIntent id.
async fn paid(s: &StandIn, form: &str) -> String {
    let (status, session) = call(s, "/v1/checkout/sessions", Some(form), None).await;
    assert_eq!(status, 200, "{session}");
    let id = session["id"].as_str().unwrap();
    s.complete_session_silently(id, PaymentStatus::Paid)
        .unwrap();
    s.session(id).unwrap()["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `event` as async-stripe reads it from a signed delivery.
fn parsed(event: &Value) -> EventObject {
    let payload = event.to_string();
    let header = sign_payload(&payload, SECRET, chrono::Utc::now().timestamp());
    let event = Webhook::construct_event(&payload, &header, SECRET)
        .unwrap_or_else(|e| panic!("async-stripe refuses it ({e}): {payload}"));
    event.data.object
}

fn pi_of(body: &Value) -> stripe_shared::PaymentIntent {
    miniserde::json::from_str(&body.to_string())
        .unwrap_or_else(|e| panic!("not a PaymentIntent ({e}): {body}"))
}

fn types_since(s: &StandIn, from: usize) -> Vec<String> {
    s.events()[from..]
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_manual_session_paid_is_only_authorized_and_stripes_events_say_so() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let (_, session) = call(&s, "/v1/checkout/sessions", Some(MANUAL), None).await;
    let id = session["id"].as_str().unwrap();

    s.complete_session(id, PaymentStatus::Paid).await.unwrap();

    let session = s.session(id).unwrap();
    assert_eq!(
        (
            session["status"].as_str(),
            session["payment_status"].as_str()
        ),
        (Some("complete"), Some("unpaid"))
    );
    let events = s.events();
    assert_eq!(
        types_since(&s, 0),
        [
            "charge.succeeded",
            "payment_intent.amount_capturable_updated",
            "checkout.session.completed"
        ]
    );
    let EventObject::ChargeSucceeded(charge) = parsed(&events[0]) else {
        panic!("not charge.succeeded")
    };
    assert!(!charge.captured);
    assert_eq!((charge.amount, charge.amount_captured), (10_000, 0));
    let card = charge.payment_method_details.unwrap().card.unwrap();
    let capture_before = card.capture_before.unwrap();
    let week = chrono::Utc::now().timestamp() + HOLD_SECONDS;
    assert!(
        (week - 5..=week).contains(&capture_before),
        "{capture_before}"
    );
    let EventObject::PaymentIntentAmountCapturableUpdated(pi) = parsed(&events[1]) else {
        panic!("not amount_capturable_updated")
    };
    assert_eq!(
        pi.status,
        stripe_shared::PaymentIntentStatus::RequiresCapture
    );
    assert_eq!((pi.amount_capturable, pi.amount_received), (10_000, 0));
    assert_eq!(pi.latest_charge.unwrap().id(), &charge.id);
    assert_eq!(pi.metadata["order_id"], "ORD-H");
    let EventObject::CheckoutSessionCompleted(completed) = parsed(&events[2]) else {
        panic!("not completed")
    };
    assert_eq!(
        completed.payment_status,
        stripe_shared::CheckoutSessionPaymentStatus::Unpaid
    );
    let (status, got) = call(&s, &format!("/v1/payment_intents/{}", pi.id), None, None).await;
    assert_eq!((status, pi_of(&got).amount_capturable), (200, 10_000));
    assert_eq!(got["status"], "requires_capture");
    // Expanded, as a reader of the hold asks for it.
    let path = format!("/v1/payment_intents/{}?expand[]=latest_charge", pi.id);
    let (_, got) = call(&s, &path, None, None).await;
    let card = &got["latest_charge"]["payment_method_details"]["card"];
    assert_eq!(card["capture_before"], capture_before);
    let path = format!("/v1/checkout/sessions/{id}?expand[0]=payment_intent.latest_charge");
    let (status, got) = call(&s, &path, None, None).await;
    assert_eq!(status, 200, "{got}");
    let expanded = &got["payment_intent"];
    assert_eq!(expanded["status"], "requires_capture");
    assert_eq!(expanded["latest_charge"]["captured"], false);
    let (_, got) = call(&s, &format!("/v1/checkout/sessions/{id}"), None, None).await;
    assert_eq!(got["payment_intent"], pi.id.as_str());

    // An automatic session is paid at once, and sends only its own event, as before.
    let automatic = MANUAL.replace("&payment_intent_data[capture_method]=manual", "");
    let pi = paid(&s, &automatic).await;
    assert_eq!(types_since(&s, 3), ["checkout.session.completed"]);
    assert_eq!(s.events()[3]["data"]["object"]["payment_status"], "paid");
    let (_, got) = call(&s, &format!("/v1/payment_intents/{pi}"), None, None).await;
    assert_eq!(
        (got["status"].as_str(), got["amount_received"].as_i64()),
        (Some("succeeded"), Some(10_000))
    );
    assert_eq!(s.charge_of(&pi).unwrap()["captured"], true);
    let (status, missing) = call(&s, "/v1/payment_intents/pi_nope", None, None).await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );
}

#[tokio::test]
async fn a_capture_takes_all_or_part_of_the_hold_once_and_releases_the_rest_without_a_refund() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let full = paid(&s, MANUAL).await;
    let before = s.events().len();

    let (status, pi) = call(
        &s,
        &format!("/v1/payment_intents/{full}/capture"),
        Some(""),
        None,
    )
    .await;

    assert_eq!(status, 200, "{pi}");
    let typed = pi_of(&pi);
    assert_eq!(typed.status, stripe_shared::PaymentIntentStatus::Succeeded);
    assert_eq!(
        (typed.amount_received, typed.amount_capturable),
        (10_000, 0)
    );
    assert_eq!(
        types_since(&s, before),
        ["charge.captured", "payment_intent.succeeded"]
    );
    let EventObject::ChargeCaptured(charge) = parsed(&s.events()[before]) else {
        panic!("not charge.captured")
    };
    assert!(charge.captured);
    assert_eq!(charge.amount_captured, 10_000);
    assert!(matches!(
        parsed(&s.events()[before + 1]),
        EventObject::PaymentIntentSucceeded(_)
    ));
    assert_eq!(s.captures(&full), [10_000]);

    let part = paid(&s, MANUAL).await;
    let before = s.events().len();
    let capture = format!("/v1/payment_intents/{part}/capture");
    let (status, too_much) = call(&s, &capture, Some("amount_to_capture=10001"), None).await;
    assert_eq!(
        (
            status,
            too_much["error"]["code"].as_str(),
            too_much["error"]["param"].as_str()
        ),
        (400, Some("amount_too_large"), Some("amount_to_capture"))
    );
    let (status, pi) = call(&s, &capture, Some("amount_to_capture=4000"), None).await;
    assert_eq!(status, 200, "{pi}");
    assert_eq!(
        (
            pi["status"].as_str(),
            pi["amount_received"].as_i64(),
            pi["amount_capturable"].as_i64()
        ),
        (Some("succeeded"), Some(4_000), Some(0))
    );
    let charge = s.charge_of(&part).unwrap();
    assert_eq!(
        (
            charge["amount_captured"].as_i64(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(4_000), Some(0))
    );
    assert_eq!(charge["refunded"], false);
    // Since 2025-03-31 the released rest is no refund and sends no `charge.refunded`.
    assert_eq!(
        types_since(&s, before),
        ["charge.captured", "payment_intent.succeeded"]
    );
    assert!(s.refunds().is_empty());
    let (status, again) = call(&s, &capture, Some(""), None).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (400, Some("payment_intent_unexpected_state"))
    );
    assert_eq!(again["error"]["payment_intent"]["status"], "succeeded");
    assert_eq!(s.captures(&part), [4_000]);
    assert_eq!(s.total_captures(), 2);
    // What was captured can be refunded, and no more.
    let refund = |amount: i64| format!("payment_intent={part}&amount={amount}");
    let (status, over) = call(&s, "/v1/refunds", Some(&refund(4_001)), None).await;
    assert_eq!(
        (status, over["error"]["code"].as_str()),
        (400, Some("amount_too_large"))
    );
    assert_eq!(
        call(&s, "/v1/refunds", Some(&refund(4_000)), None).await.0,
        200
    );
}

#[tokio::test]
async fn one_idempotency_key_captures_once_however_many_ask_at_once() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let pi = paid(&s, MANUAL).await;
    let url = format!("{}/v1/payment_intents/{pi}/capture", s.base_url());
    let asks = (0..20).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let answer = reqwest::Client::new()
                .post(url)
                .bearer_auth("sk_test_1")
                .header("Idempotency-Key", "capture-ORD-H-1")
                .body("amount_to_capture=7500")
                .send()
                .await
                .unwrap();
            let replayed = answer.headers().contains_key("idempotent-replayed");
            (
                answer.status().as_u16(),
                replayed,
                answer.text().await.unwrap(),
            )
        })
    });
    let answers: Vec<_> = futures_join(asks).await;

    assert_eq!(s.captures(&pi), [7_500], "one capture at Stripe");
    assert!(
        answers
            .iter()
            .all(|(status, _, body)| *status == 200 && *body == answers[0].2)
    );
    assert_eq!(
        answers.iter().filter(|(_, replayed, _)| !replayed).count(),
        1
    );
    let capture = format!("/v1/payment_intents/{pi}/capture");
    let key = Some("capture-ORD-H-1");
    let (status, other) = call(&s, &capture, Some("amount_to_capture=7000"), key).await;
    assert_eq!(
        (status, other["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    let cancel = format!("/v1/payment_intents/{pi}/cancel");
    let (status, elsewhere) = call(&s, &cancel, Some("amount_to_capture=7500"), key).await;
    assert_eq!(status, 400, "{elsewhere}");
    let (status, _) = call(&s, &capture, Some(""), Some("capture-ORD-H-2")).await;
    assert_eq!(status, 400);
    assert_eq!(s.total_captures(), 1);
    assert_eq!(
        s.calls()["POST /v1/payment_intents/{id}/capture"],
        22,
        "every capture request reached the stand-in"
    );
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_cancel_releases_the_hold_with_its_reason_and_no_refund() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let pi = paid(&s, MANUAL).await;
    let before = s.events().len();
    let cancel = format!("/v1/payment_intents/{pi}/cancel");

    let (status, canceled) = call(
        &s,
        &cancel,
        Some("cancellation_reason=requested_by_customer"),
        None,
    )
    .await;

    assert_eq!(status, 200, "{canceled}");
    let typed = pi_of(&canceled);
    assert_eq!(typed.status, stripe_shared::PaymentIntentStatus::Canceled);
    assert_eq!(
        typed.cancellation_reason,
        Some(stripe_shared::PaymentIntentCancellationReason::RequestedByCustomer)
    );
    assert!(typed.canceled_at.is_some());
    assert_eq!(types_since(&s, before), ["payment_intent.canceled"]);
    assert!(matches!(
        parsed(&s.events()[before]),
        EventObject::PaymentIntentCanceled(_)
    ));
    let charge = s.charge_of(&pi).unwrap();
    assert_eq!(
        (
            charge["captured"].as_bool(),
            charge["amount_captured"].as_i64()
        ),
        (Some(false), Some(0))
    );
    assert_eq!(
        (
            charge["refunded"].as_bool(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(false), Some(0))
    );
    assert!(s.refunds().is_empty());
    let (status, again) = call(&s, &cancel, Some(""), None).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (400, Some("payment_intent_unexpected_state"))
    );
    let capture = format!("/v1/payment_intents/{pi}/capture");
    let (status, late) = call(&s, &capture, Some(""), None).await;
    assert_eq!(
        (status, late["error"]["code"].as_str()),
        (400, Some("payment_intent_unexpected_state"))
    );
    assert!(s.captures(&pi).is_empty());

    // Without a reason, none is given.
    let other = paid(&s, MANUAL).await;
    let (_, canceled) = call(
        &s,
        &format!("/v1/payment_intents/{other}/cancel"),
        Some(""),
        None,
    )
    .await;
    assert_eq!(
        (
            canceled["status"].as_str(),
            &canceled["cancellation_reason"]
        ),
        (Some("canceled"), &Value::Null)
    );
}

#[tokio::test]
async fn a_lapsed_hold_is_canceled_expired_and_its_capture_refused_as_stripe_refuses_it() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let pi = paid(&s, MANUAL).await;
    let before = s.events().len();

    let lapsed = s.lapse_hold_silently(&pi).unwrap();

    assert_eq!(
        types_since(&s, before),
        ["charge.expired", "payment_intent.canceled"]
    );
    assert!(matches!(parsed(&lapsed[0]), EventObject::ChargeExpired(_)));
    let EventObject::PaymentIntentCanceled(canceled) = parsed(&lapsed[1]) else {
        panic!("not payment_intent.canceled")
    };
    assert_eq!(
        canceled.cancellation_reason,
        Some(stripe_shared::PaymentIntentCancellationReason::Expired)
    );
    let capture = format!("/v1/payment_intents/{pi}/capture");
    let (status, refused) = call(&s, &capture, Some(""), None).await;
    assert_eq!(status, 400);
    let err: stripe_shared::Error = miniserde::json::from_str(&refused.to_string()).unwrap();
    assert_eq!(
        err.error.type_,
        stripe_shared::ApiErrorsType::InvalidRequestError
    );
    assert_eq!(
        err.error.code,
        Some(stripe_shared::ApiErrorsCode::ChargeExpiredForCapture)
    );
    assert_eq!(
        refused["error"]["payment_intent"]["cancellation_reason"],
        "expired"
    );
    assert!(s.captures(&pi).is_empty());
    assert!(s.lapse_hold_silently(&pi).is_err(), "a hold lapses once");

    // A hold whose capture_before comes near lapses on its own, and says so by webhook;
    // events in an API version before 2025-03-31 say `automatic`.
    let (target, mut received) = receiver().await;
    s.set_webhook_target(target);
    s.set_api_version("2025-02-24.acacia");
    let soon = paid(&s, MANUAL).await;
    let at = s
        .set_capture_before_in(&soon, Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        s.charge_of(&soon).unwrap()["payment_method_details"]["card"]["capture_before"],
        at
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, received.recv())
            .await
            .expect("lapsed in time");
        got.push(event.unwrap());
    }
    assert_eq!(
        (got[0]["type"].as_str(), got[1]["type"].as_str()),
        (Some("charge.expired"), Some("payment_intent.canceled"))
    );
    assert_eq!(got[1]["api_version"], "2025-02-24.acacia");
    assert_eq!(got[1]["data"]["object"]["cancellation_reason"], "automatic");
    let (status, refused) = call(
        &s,
        &format!("/v1/payment_intents/{soon}/capture"),
        Some(""),
        None,
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("charge_expired_for_capture"))
    );
}

/// A webhook target that hands over each payload it gets.
async fn receiver() -> (WebhookTarget, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_str::<Value>(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target = WebhookTarget {
        url,
        secret: SECRET.into(),
    };
    (target, rx)
}

#[tokio::test]
async fn a_held_capture_answer_comes_after_its_webhooks_and_its_retry_replays_it() {
    let (target, mut received) = receiver().await;
    let s = StandIn::spawn(StandInConfig {
        webhook: Some(target),
        ..Default::default()
    })
    .await
    .unwrap();
    let pi = paid(&s, MANUAL).await;
    s.hold_payment_intent_answers();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let timed_out = impatient
        .post(format!("{}/v1/payment_intents/{pi}/capture", s.base_url()))
        .bearer_auth("sk_test_1")
        .header("Idempotency-Key", "k")
        .send()
        .await;

    assert!(timed_out.unwrap_err().is_timeout());
    assert_eq!(received.recv().await.unwrap()["type"], "charge.captured");
    assert_eq!(
        received.recv().await.unwrap()["type"],
        "payment_intent.succeeded"
    );
    s.release_payment_intent_answers();
    let (status, replay) = call(
        &s,
        &format!("/v1/payment_intents/{pi}/capture"),
        Some(""),
        Some("k"),
    )
    .await;
    assert_eq!(
        (status, replay["status"].as_str()),
        (200, Some("succeeded"))
    );
    assert_eq!(s.captures(&pi).len(), 1);
}

#[tokio::test]
async fn a_misspelled_capture_or_cancel_parameter_is_refused_as_stripe_refuses_it() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let pi = paid(&s, MANUAL).await;
    let capture = format!("/v1/payment_intents/{pi}/capture");

    let (status, answer) = call(&s, &capture, Some("amount_to_captur=100"), None).await;

    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        serde_json::json!({"type": "invalid_request_error", "code": "parameter_unknown",
            "param": "amount_to_captur",
            "message": "Received unknown parameter: amount_to_captur. Did you mean amount_to_capture?"})
    );
    let (status, answer) = call(&s, &capture, Some("amount_to_capture=ten"), None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("parameter_invalid_integer"))
    );
    let cancel = format!("/v1/payment_intents/{pi}/cancel");
    let (status, answer) = call(&s, &cancel, Some("cancellation_reason=expired"), None).await;
    assert_eq!(
        (status, answer["error"]["param"].as_str()),
        (400, Some("cancellation_reason"))
    );
    let (status, answer) = call(
        &s,
        &format!("/v1/payment_intents/{pi}?expand[]=latest_charge&client_secre=x"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, answer["error"]["param"].as_str()),
        (400, Some("client_secre"))
    );
    assert!(s.captures(&pi).is_empty());
    assert_eq!(s.payment_intent(&pi).unwrap()["status"], "requires_capture");
}
