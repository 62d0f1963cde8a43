//! Malformed checkouts and malformed or forged webhooks: all 4xx, nothing written, still healthy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stripe_standin::sign_payload;

use crate::helpers::*;

/// A request body and its content type.
struct Bad {
    what: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn bad(what: impl Into<String>, body: impl Into<Vec<u8>>) -> Bad {
    Bad {
        what: what.into(),
        content_type: Some("application/json"),
        body: body.into(),
        headers: vec![],
    }
}

/// A valid checkout with one change made by `f`.
fn mutated(what: &str, f: impl FnOnce(&mut Value)) -> Bad {
    let mut body = checkout_body("valid@example.com");
    f(&mut body);
    bad(what, serde_json::to_vec(&body).unwrap())
}

fn malformed_checkouts() -> Vec<Bad> {
    let mut cases = vec![
        bad("empty body", ""),
        bad("not json", "hello"),
        bad(
            "truncated json",
            r#"{"__action": "create_checkout_session", "#,
        ),
        bad("json null", "null"),
        bad("json array", "[]"),
        bad("json string", r#""create_checkout_session""#),
        bad("json number", "42"),
        bad("empty object", "{}"),
        bad("invalid utf-8", vec![b'{', 0xff, 0xfe, b'}']),
        bad("nested 10k deep", "[".repeat(10_000)),
        bad("over the body limit", {
            let mut b = checkout_body("big@example.com");
            b["metadata"]["x"] = json!("y".repeat(70 * 1024));
            serde_json::to_vec(&b).unwrap()
        }),
        Bad {
            content_type: Some("text/plain"),
            ..mutated("text/plain content type", |_| {})
        },
        Bad {
            content_type: None,
            ..mutated("no content type", |_| {})
        },
        Bad {
            content_type: Some("application/x-www-form-urlencoded"),
            ..bad("form body", "__action=create_checkout_session")
        },
        Bad {
            headers: vec![("Idempotency-Key", "k".repeat(300))],
            ..mutated("idempotency key too long", |_| {})
        },
        Bad {
            headers: vec![("Idempotency-Key", "has space".into())],
            ..mutated("idempotency key with a space", |_| {})
        },
        mutated("no __action", |b| {
            b.as_object_mut().unwrap().remove("__action");
        }),
        mutated("wrong __action", |b| b["__action"] = json!("refund")),
        mutated("__action number", |b| b["__action"] = json!(1)),
        mutated("no customer", |b| {
            b.as_object_mut().unwrap().remove("customer");
        }),
        mutated("customer string", |b| b["customer"] = json!("ann@b.com")),
        mutated("no cart", |b| {
            b.as_object_mut().unwrap().remove("cart");
        }),
        mutated("empty cart", |b| b["cart"] = json!([])),
        mutated("cart object", |b| {
            b["cart"] = json!({"price_id": "price_1", "qty": 1})
        }),
        mutated("cart of 51 lines", |b| {
            b["cart"] = json!(vec![json!({"price_id": "price_1", "qty": 1}); 51])
        }),
        mutated("cart line null", |b| b["cart"] = json!([null])),
        mutated("no success_url", |b| {
            b.as_object_mut().unwrap().remove("success_url");
        }),
        mutated("no cancel_url", |b| {
            b.as_object_mut().unwrap().remove("cancel_url");
        }),
        mutated("metadata array", |b| b["metadata"] = json!(["a"])),
        mutated("metadata nested", |b| {
            b["metadata"] = json!({"a": {"b": "c"}})
        }),
        mutated("metadata number value", |b| b["metadata"] = json!({"a": 1})),
        mutated("metadata null value", |b| {
            b["metadata"] = json!({"a": null})
        }),
        mutated("metadata 21 keys", |b| {
            b["metadata"] = Value::Object((0..21).map(|i| (format!("k{i}"), json!("v"))).collect())
        }),
        mutated("metadata long key", |b| {
            b["metadata"] = json!({"k".repeat(41): "v"})
        }),
        mutated("metadata long value", |b| {
            b["metadata"] = json!({"k": "v".repeat(501)})
        }),
    ];
    for email in [
        json!(""),
        json!("no-at-sign"),
        json!("@example.com"),
        json!("ann@"),
        json!("ann@@example.com"),
        json!("ann example@example.com"),
        json!(null),
        json!(5),
        json!(["a@b.com"]),
        json!(format!("{}@example.com", "a".repeat(300))),
    ] {
        cases.push(mutated(&format!("email {email}"), |b| {
            b["customer"]["email"] = email.clone()
        }));
    }
    for qty in [
        json!(0),
        json!(-1),
        json!(101),
        json!(1.5),
        json!("1"),
        json!(null),
        json!(u64::MAX),
        json!(true),
    ] {
        cases.push(mutated(&format!("qty {qty}"), |b| {
            b["cart"][0]["qty"] = qty.clone()
        }));
    }
    for price in [
        json!(""),
        json!("prod_123"),
        json!("price_"),
        json!("price_ 1"),
        json!("price_1;DROP TABLE h2s_orders"),
        json!(123),
        json!(format!("price_{}", "x".repeat(200))),
    ] {
        cases.push(mutated(&format!("price_id {price}"), |b| {
            b["cart"][0]["price_id"] = price.clone()
        }));
    }
    for url in [
        json!(""),
        json!("/thanks"),
        json!("ftp://shop.example/x"),
        json!("javascript:alert(1)"),
        json!("https://"),
        json!(42),
        json!(format!("https://shop.example/{}", "a".repeat(3000))),
    ] {
        cases.push(mutated(&format!("success_url {url}"), |b| {
            b["success_url"] = url.clone()
        }));
    }
    cases.push(mutated("cancel_url relative", |b| {
        b["cancel_url"] = json!("cart")
    }));
    cases
}

fn signed(what: &str, payload: &str, secret: &str, ts: i64) -> Bad {
    Bad {
        headers: vec![("Stripe-Signature", sign_payload(payload, secret, ts))],
        ..bad(what, payload.to_owned())
    }
}

fn forged_webhooks() -> Vec<Bad> {
    let now = chrono::Utc::now().timestamp();
    let event = json!({
        "id": "evt_forged_1",
        "object": "event",
        "type": "checkout.session.completed",
        "created": now,
        "livemode": false,
        "api_version": "2026-09-30.endive",
        "data": {"object": {
            "id": "cs_test_forged",
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
            "amount_total": 10000,
            "currency": "usd",
            "metadata": {"order_id": "ORD-FORGED0000000000"},
            "client_reference_id": "ORD-FORGED0000000000",
            "customer_details": {"email": "forger@example.com"}
        }}
    })
    .to_string();
    let good_sig = sign_payload(&event, WEBHOOK_SECRET, now);
    let v1 = good_sig.split("v1=").nth(1).unwrap().to_owned();
    vec![
        Bad {
            headers: vec![],
            ..bad("no signature header", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", "".into())],
            ..bad("empty signature header", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", "garbage".into())],
            ..bad("garbage signature header", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("t={now}"))],
            ..bad("timestamp only", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("v1={v1}"))],
            ..bad("signature without timestamp", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("t=abc,v1={v1}"))],
            ..bad("non-numeric timestamp", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("t={now},v0={v1}"))],
            ..bad("only a v0 scheme", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("t={now},v1={}", "0".repeat(64)))],
            ..bad("zero signature", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("t={now},v1={}", &v1[..32]))],
            ..bad("truncated signature", event.clone())
        },
        Bad {
            headers: vec![("Stripe-Signature", format!("t={},v1={v1}", now + 1))],
            ..bad("signature of another timestamp", event.clone())
        },
        signed("wrong secret", &event, "whsec_not_the_secret", now),
        signed("stale by 10 minutes", &event, WEBHOOK_SECRET, now - 600),
        signed("stale by a day", &event, WEBHOOK_SECRET, now - 86_400),
        signed("epoch timestamp", &event, WEBHOOK_SECRET, 0),
        Bad {
            headers: vec![("Stripe-Signature", good_sig.clone())],
            ..bad("body altered after signing", event.replace("10000", "1"))
        },
        Bad {
            headers: vec![("Stripe-Signature", good_sig.clone())],
            ..bad("body with a trailing space", format!("{event} "))
        },
        signed(
            "signed but not json",
            "not json at all",
            WEBHOOK_SECRET,
            now,
        ),
        signed("signed empty body", "", WEBHOOK_SECRET, now),
        signed("signed json array", "[]", WEBHOOK_SECRET, now),
        signed("signed json null", "null", WEBHOOK_SECRET, now),
        signed(
            "signed truncated json",
            &event[..event.len() / 2],
            WEBHOOK_SECRET,
            now,
        ),
        // (A signed event with an id and a type but no usable object is Stripe's, not a
        // forgery: recorded as `unusable`, see the test below.)
        Bad {
            headers: vec![(
                "Stripe-Signature",
                sign_payload(&"x".repeat(70 * 1024), WEBHOOK_SECRET, now),
            )],
            ..bad("over the body limit", "x".repeat(70 * 1024))
        },
    ]
}

async fn send(http: &reqwest::Client, url: &str, case: &Bad) -> (u16, Value) {
    let mut req = http.post(url).body(case.body.clone());
    if let Some(ct) = case.content_type {
        req = req.header("Content-Type", ct);
    }
    for (k, v) in &case.headers {
        req = req.header(*k, v);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("{}: no answer: {e}", case.what),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_forged_requests_are_4xx_write_nothing_and_leave_the_api_healthy() {
    let _serial = crate::helpers::one_at_a_time().await;
    let started = Instant::now();
    let db = fresh_database_url(&main_cluster(), "faults_input");
    let api = spawn_api(&db, &["--checkout-wait-ms", "100"]).await;
    let pool = pool(&db).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let rows_before = rows_written(&pool).await;

    let checkouts = malformed_checkouts();
    let mut checkout_4xx = 0;
    let mut checkout_5xx = 0;
    let mut unexpected = Vec::new();
    for case in &checkouts {
        let (status, body) = send(&http, &format!("{}/api/shop", api.base_url), case).await;
        match status {
            400..=499 if is_error_shape(&body) || status == 405 => checkout_4xx += 1,
            500..=599 => {
                checkout_5xx += 1;
                unexpected.push(format!("checkout {}: {status} {body}", case.what));
            }
            _ => unexpected.push(format!("checkout {}: {status} {body}", case.what)),
        }
    }

    let webhooks = forged_webhooks();
    let mut webhook_4xx = 0;
    let mut webhook_5xx = 0;
    let mut webhook_404 = 0;
    for case in &webhooks {
        let (status, body) =
            send(&http, &format!("{}/api/stripe-webhook", api.base_url), case).await;
        match status {
            404 => {
                webhook_404 += 1;
                unexpected.push(format!("webhook {}: 404 (route not mounted?)", case.what));
            }
            400..=499 => webhook_4xx += 1,
            500..=599 => {
                webhook_5xx += 1;
                unexpected.push(format!("webhook {}: {status} {body}", case.what));
            }
            _ => unexpected.push(format!("webhook {}: {status} {body}", case.what)),
        }
    }

    let rows_after = rows_written(&pool).await;
    let healthz = http
        .get(format!("{}/healthz", api.base_url))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let readyz = http
        .get(format!("{}/readyz", api.base_url))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    // Still serving real work: a valid checkout is accepted (no worker runs: 202).
    let valid = post_checkout(&http, &api.base_url, "after@example.com", "after-1").await;
    let mut api = api;
    let api_alive = api.proc.alive();

    crate::report!(
        "[faults/bad_input] checkout_cases={} checkout_4xx={checkout_4xx} \
         checkout_5xx={checkout_5xx} webhook_cases={} webhook_4xx={webhook_4xx} \
         webhook_5xx={webhook_5xx} webhook_404={webhook_404} rows_written={} healthz={healthz} \
         readyz={readyz} valid_checkout_after={} api_alive={api_alive} elapsed_s={:.1}",
        checkouts.len(),
        webhooks.len(),
        rows_after - rows_before,
        valid.status,
        started.elapsed().as_secs_f64(),
    );
    for u in &unexpected {
        crate::report!("[faults/bad_input]   unexpected: {u}");
    }

    assert!(checkouts.len() >= 50 && webhooks.len() >= 20);
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");
    assert_eq!(checkout_4xx, checkouts.len());
    assert_eq!(webhook_4xx, webhooks.len());
    assert_eq!(rows_after, rows_before, "bad input writes nothing");
    assert_eq!((healthz, readyz), (200, 200));
    assert!(
        (200..300).contains(&valid.status),
        "valid checkout: {valid:?}"
    );
    assert!(api_alive);

    api.proc.terminate(Duration::from_secs(10));
    pool.close().await;
    drop_database(&db).await;
}

async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The metric sample of this exact series name and labels, from `/metrics`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_signed_dispute_without_a_payment_intent_is_recorded_unusable_not_a_signature_failure() {
    let _serial = crate::helpers::one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_unusable");
    let api = spawn_api(&db, &[]).await;
    let pool = pool(&db).await;
    let http = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp();
    // Stripe's own sample dispute names no PaymentIntent (a charge made outside Checkout).
    let dispute = stripe_standin::samples::sample("dispute");
    assert!(dispute["payment_intent"].is_null());
    let event =
        stripe_standin::samples::event("evt_unusable_1", "charge.dispute.created", dispute, now);
    let payload = event.to_string();
    let url = format!("{}/api/stripe-webhook", api.base_url);
    let deliver = |signature: String| {
        http.post(&url)
            .header("Stripe-Signature", signature)
            .body(payload.clone())
            .send()
    };

    let answer = deliver(sign_payload(&payload, WEBHOOK_SECRET, now))
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    let metrics = metrics_text(&http, &api.base_url).await;
    // The counter does move for a forged delivery of the same body (so the check above can fail).
    let forged = deliver(sign_payload(&payload, "whsec_forged", now))
        .await
        .unwrap();
    let after = metrics_text(&http, &api.base_url).await;

    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("unusable")),
        "{body}"
    );
    let recorded: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id, outcome FROM h2s_stripe_events")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        recorded,
        [("evt_unusable_1".to_owned(), "unusable".to_owned())]
    );
    let alert: (Option<String>, Option<String>, String) =
        sqlx::query_as("SELECT event_id, order_id, kind FROM h2s_operator_alerts")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        alert,
        (Some("evt_unusable_1".into()), None, "unusable_event".into())
    );
    assert_eq!(
        metric(&metrics, "h2s_webhook_signature_failures_total"),
        Some(0.0)
    );
    let unusable = "h2s_webhook_events_total{type=\"charge.dispute.created\",outcome=\"unusable\"}";
    assert_eq!(metric(&metrics, unusable), Some(1.0), "{metrics}");
    assert_eq!(forged.status().as_u16(), 400);
    assert_eq!(
        metric(&after, "h2s_webhook_signature_failures_total"),
        Some(1.0)
    );
    let mut api = api;
    api.proc.terminate(Duration::from_secs(10));
    let log = api.proc.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("recorded as unusable"))
        .expect("a log line for it");
    assert!(
        line.contains("evt_unusable_1") && line.contains("payment_intent"),
        "{line}"
    );
    assert!(
        !line.contains("dp_1Pgc71B7WZ01zgkWMevJiAUx"),
        "no payload in the log: {line}"
    );
    pool.close().await;
    drop_database(&db).await;
}
