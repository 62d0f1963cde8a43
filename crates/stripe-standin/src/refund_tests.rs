//! `POST /v1/refunds` (`refunds.rs`): Stripe's sample refund, parsed by async-stripe from
//! its `refund.created` event; Stripe's idempotency; its refusals.

use serde_json::Value;
use stripe_webhook::{EventObject, Webhook};

use super::*;

const FORM: &str = "mode=payment&line_items[0][price]=price_install&line_items[0][quantity]=1\
                    &metadata[order_id]=ORD-1&customer_email=ann%40example.com\
                    &success_url=https%3A%2F%2Fshop.example%2Fthanks";

async fn refund(s: &StandIn, body: &str, key: &str) -> (u16, Option<String>, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/refunds", s.base_url()))
        .bearer_auth("sk_test_123")
        .header("Idempotency-Key", key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let replayed = answer
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        answer.status().as_u16(),
        replayed,
        answer.json().await.unwrap(),
    )
}

#[tokio::test]
async fn a_refund_replays_under_its_key_and_is_refused_as_stripe_would() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let created = reqwest::Client::new()
        .post(format!("{}/v1/checkout/sessions", s.base_url()))
        .bearer_auth("sk_test_123")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(FORM)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    s.complete_session_silently(id, PaymentStatus::Paid)
        .unwrap();
    let pi = s.session(id).unwrap()["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = |amount: i64| {
        format!("amount={amount}&payment_intent={pi}&metadata%5Bh2s_refund_request%5D=r-1")
    };

    let (status, _, first) = refund(&s, &body(4_000), "r-1").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["metadata"]["h2s_refund_request"], "r-1");
    assert_eq!(
        (first["amount"].as_i64(), first["status"].as_str()),
        (Some(4_000), Some("succeeded"))
    );
    let (status, replayed, again) = refund(&s, &body(4_000), "r-1").await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    assert_eq!(again["id"], first["id"], "the same refund, replayed");
    let (status, _, other) = refund(&s, &body(1_000), "r-1").await;
    assert_eq!(
        (status, other["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    assert_eq!(s.refunds().len(), 1);

    let (status, _, too_much) = refund(&s, &body(7_000), "r-2").await;
    assert_eq!(
        (status, too_much["error"]["code"].as_str()),
        (400, Some("amount_too_large"))
    );
    assert_eq!(too_much["error"]["param"], "amount");
    assert_eq!(refund(&s, &body(6_000), "r-3").await.0, 200);
    let (status, _, done) = refund(&s, &body(1), "r-4").await;
    assert_eq!(
        (status, done["error"]["code"].as_str()),
        (400, Some("charge_already_refunded"))
    );
    let (status, _, unknown) = refund(&s, "payment_intent=pi_nope", "r-5").await;
    assert_eq!(
        (status, unknown["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );

    // Its event is Stripe's sample refund, which async-stripe parses.
    let created = s
        .events()
        .into_iter()
        .find(|e| e["type"] == "refund.created")
        .unwrap();
    let payload = created.to_string();
    let header = sign_payload(&payload, "whsec_x", chrono::Utc::now().timestamp());
    let event = Webhook::construct_event(&payload, &header, "whsec_x").unwrap();
    let EventObject::RefundCreated(parsed) = event.data.object else {
        panic!("not refund.created: {payload}")
    };
    assert_eq!(parsed.amount, 4_000);
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/v1/refunds?payment_intent={pi}", s.base_url()))
        .bearer_auth("sk_test_123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
}
