//! The stand-in refuses what Stripe refuses: unknown and invalid parameters, against Stripe's
//! published request schemas, in Stripe's error shape; Stripe's metadata limits.

use serde_json::{Value, json};

use super::*;

const GOOD: &str = "mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=2\
                    &success_url=https%3A%2F%2Fshop.example%2Fthanks&metadata[order_id]=ORD-1";

async fn post(s: &StandIn, path: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", s.base_url()))
        .bearer_auth("sk_test_123")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("the stand-in answers");
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(s: &StandIn, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", s.base_url()))
        .bearer_auth("sk_test_123")
        .send()
        .await
        .expect("the stand-in answers");
    (response.status().as_u16(), response.json().await.unwrap())
}

fn unknown(param: &str, message: &str) -> Value {
    json!({"error": {"type": "invalid_request_error", "code": "parameter_unknown",
        "param": param, "message": message}})
}

#[tokio::test]
async fn a_misspelled_parameter_is_answered_as_stripe_answers_it_and_creates_nothing() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let misspelled = GOOD.replace("success_url", "succes_url");
    let answer = post(&s, "/v1/checkout/sessions", &misspelled).await;
    assert_eq!(
        answer,
        (
            400,
            unknown(
                "succes_url",
                "Received unknown parameter: succes_url. Did you mean success_url?"
            )
        )
    );
    let qty = GOOD.replace("[0][quantity]", "[0][qty]");
    let answer = post(&s, "/v1/checkout/sessions", &qty).await;
    assert_eq!(answer.0, 400);
    assert_eq!(answer.1["error"]["code"], "parameter_unknown");
    assert_eq!(answer.1["error"]["param"], "line_items[0][qty]");
    let refund = "payment_intent=pi_1&amount=100&reasons=duplicate";
    let answer = post(&s, "/v1/refunds", refund).await;
    assert_eq!(
        answer,
        (
            400,
            unknown(
                "reasons",
                "Received unknown parameter: reasons. Did you mean reason?"
            )
        )
    );
    let answer = get(&s, "/v1/events?limit=10&typ=checkout.session.completed").await;
    assert_eq!(answer.1["error"]["param"], "typ", "{}", answer.1);
    assert!(s.sessions().is_empty() && s.refunds().is_empty());
    // The well-formed request passes.
    assert_eq!(post(&s, "/v1/checkout/sessions", GOOD).await.0, 200);
}

#[tokio::test]
async fn invalid_values_and_stripes_metadata_limits_are_refused_naming_the_parameter() {
    let s = StandIn::spawn(StandInConfig::default()).await.unwrap();
    let long_key = format!("metadata[{}]", "k".repeat(41));
    let cases = [
        (
            GOOD.replace("quantity]=2", "quantity]=two"),
            "line_items[0][quantity]",
            Some("parameter_invalid_integer"),
        ),
        (GOOD.replace("mode=payment", "mode=pay"), "mode", None),
        (format!("{GOOD}&metadata[a[b]]=x"), "metadata[a[b]]", None),
        (
            format!("{GOOD}&metadata[{}]=x", "k".repeat(41)),
            long_key.as_str(),
            None,
        ),
        (
            format!("{GOOD}&metadata[note]={}", "v".repeat(501)),
            "metadata[note]",
            None,
        ),
        (
            format!("{GOOD}&allow_promotion_codes=yes"),
            "allow_promotion_codes",
            None,
        ),
        (
            format!("{GOOD}&customer_email="),
            "customer_email",
            Some("parameter_invalid_empty"),
        ),
        (
            GOOD.replace("line_items[0]", "line_items[1]"),
            "line_items",
            None,
        ),
        (
            format!("{GOOD}&line_items[1][price_data][unit_amount]=5"),
            "line_items[1][price_data][currency]",
            Some("parameter_missing"),
        ),
    ];
    for (body, param, code) in &cases {
        let (status, answer) = post(&s, "/v1/checkout/sessions", body).await;
        assert_eq!(status, 400, "{param}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
        assert_eq!(answer["error"]["param"], *param, "{answer}");
        assert_eq!(answer["error"]["code"].as_str(), *code, "{answer}");
    }
    let fifty_one: String = (0..51).map(|i| format!("&metadata[k{i}]=v")).collect();
    let (status, answer) = post(
        &s,
        "/v1/refunds",
        &format!("payment_intent=pi_1{fifty_one}"),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["param"]),
        (400, &json!("metadata")),
        "{answer}"
    );
    assert!(s.sessions().is_empty());
    // Limits met exactly pass: 50 keys, a 40-character key, a 500-character value.
    let fifty: String = (0..49).map(|i| format!("&metadata[k{i}]=v")).collect();
    let most = format!(
        "{GOOD}{fifty}&metadata[{}]={}",
        "é".repeat(40),
        "é".repeat(500)
    );
    let most = most.replace("metadata[order_id]=ORD-1&", "");
    assert_eq!(check_request("POST /v1/checkout/sessions", &most), Ok(()));
}
