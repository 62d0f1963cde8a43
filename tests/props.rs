//! Property tests (issue 5): the checkout body parser, and the HTTP routes of the real `api`
//! binary, never panic, and every rejection is a 4xx in the error shape, never a 5xx.

#[path = "common/event_feed.rs"]
mod event_feed;
#[allow(dead_code)]
#[path = "faults/helpers.rs"]
mod helpers;
#[path = "common/test_db.rs"]
mod test_db;

use h2s_dispatch::checkout::request::{
    MAX_CART_LINES, MAX_METADATA_KEYS, MAX_QTY, NewCheckout, RawCheckout,
};
use proptest::{prelude::*, test_runner::TestRunner};
use serde_json::{Value, json};
use stripe_standin::sign_payload;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("price_123")),
        Just(json!("a@b.com")),
        Just(json!("https://shop.example/x")),
        Just(json!("create_checkout_session")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,12}",
                    Just("email".to_string()),
                    Just("price_id".to_string()),
                    Just("qty".to_string()),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn valid_body() -> Value {
    helpers::checkout_body("ann@example.com")
}

/// A valid body with one part replaced by arbitrary JSON (or removed).
fn near_valid_body() -> impl Strategy<Value = Value> {
    let paths: &[&[&str]] = &[
        &["__action"],
        &["customer"],
        &["customer", "email"],
        &["customer", "name"],
        &["customer", "phone"],
        &["cart"],
        &["metadata"],
        &["success_url"],
        &["cancel_url"],
    ];
    (
        prop::sample::select(paths.to_vec()),
        prop::option::of(any_json()),
        prop::option::of((0usize..3, any_json())),
    )
        .prop_map(|(path, replacement, line)| {
            let mut body = valid_body();
            let (last, parents) = path.split_last().unwrap();
            let mut target = &mut body;
            for p in parents {
                target = &mut target[*p];
            }
            match replacement {
                Some(v) => target[*last] = v,
                None => {
                    target.as_object_mut().unwrap().remove(*last);
                }
            }
            if let Some((i, v)) = line
                && let Some(line) = body["cart"].get_mut(i).and_then(Value::as_object_mut)
            {
                line.insert("qty".into(), v);
            }
            body
        })
}

fn parse(body: &Value) -> Option<Result<NewCheckout, String>> {
    let raw: RawCheckout = serde_json::from_value(body.clone()).ok()?;
    Some(NewCheckout::try_from(raw).map_err(|e| format!("{}: {}", e.field, e.message)))
}

/// What an accepted checkout must satisfy, whatever body it came from.
fn check_accepted(c: &NewCheckout) {
    assert!(!c.cart.is_empty() && c.cart.len() <= MAX_CART_LINES);
    for line in &c.cart {
        assert!((1..=MAX_QTY).contains(&line.qty.get()));
        assert!(line.price_id.as_str().starts_with("price_"));
    }
    assert!(c.metadata.len() <= MAX_METADATA_KEYS);
    for url in [&c.success_url, &c.cancel_url] {
        assert!(url.as_str().starts_with("http://") || url.as_str().starts_with("https://"));
    }
    assert!(c.customer.email.as_str().contains('@'));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_checkout_parser_never_panics_on_arbitrary_json(body in any_json()) {
        if let Some(Ok(c)) = parse(&body) {
            check_accepted(&c);
        }
    }

    #[test]
    fn the_checkout_parser_accepts_only_valid_near_valid_bodies(body in near_valid_body()) {
        match parse(&body) {
            Some(Ok(c)) => check_accepted(&c),
            Some(Err(e)) => prop_assert!(!e.is_empty()),
            None => {}
        }
    }
}

/// The real api binary on a fresh database (no worker: accepted checkouts answer 202).
struct Served {
    runtime: tokio::runtime::Runtime,
    base_url: String,
    http: reqwest::Client,
    db: String,
    api: Option<helpers::Api>,
}

impl Served {
    fn start() -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = helpers::fresh_database_url(&helpers::main_cluster(), "props");
        let api = runtime.block_on(helpers::spawn_api(&db, &["--checkout-wait-ms", "0"]));
        Served {
            runtime,
            base_url: api.base_url.clone(),
            http: reqwest::Client::new(),
            db,
            api: Some(api),
        }
    }

    fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut req = self
                .http
                .post(format!("{}{path}", self.base_url))
                .body(body);
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct);
            }
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let r = req
                .send()
                .await
                .expect("the api answers (a panic in a handler drops the connection)");
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    /// Runs `cases` cases of `test` against this api, then stops it and drops its database.
    fn check<S: Strategy>(
        self,
        cases: u32,
        strategy: S,
        test: impl Fn(&Served, S::Value) -> Result<(), TestCaseError>,
    ) {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
        let result = runner.run(&strategy, |v| test(&self, v));
        let mut served = self;
        if let Some(mut api) = served.api.take() {
            assert!(
                api.proc.alive(),
                "the api is still up: {}",
                api.proc.log_tail(20)
            );
            api.proc.kill();
        }
        served.runtime.block_on(helpers::drop_database(&served.db));
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        near_valid_body().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::weighted(
        0.9,
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
        ]),
    )
}

/// A Stripe-Signature header: absent, garbage, or right in form but wrong in value.
fn signature_header() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        ".{0,80}",
        (any::<i64>(), "[0-9a-f]{64}").prop_map(|(t, v)| format!("t={t},v1={v}")),
        "[0-9a-f]{64}".prop_map(|v| format!("t={},v1={v}", chrono::Utc::now().timestamp())),
    ])
}

/// Random event envelopes around a checkout session: the shapes a webhook might be sent.
fn event_json() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "checkout.session.completed",
            "checkout.session.expired",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
            "payment_intent.succeeded",
        ]),
        any_json(),
        any_json(),
        prop::option::of("ORD-[A-Z0-9]{16}"),
    )
        .prop_map(|(kind, payment_status, amount, order)| {
            json!({
                "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
                "object": "event",
                "type": kind,
                "created": chrono::Utc::now().timestamp(),
                "livemode": false,
                "data": {"object": {
                    "id": format!("cs_test_{}", uuid::Uuid::new_v4().simple()),
                    "object": "checkout.session",
                    "status": "complete",
                    "payment_status": payment_status,
                    "amount_total": amount,
                    "currency": "usd",
                    "metadata": order.as_ref().map(|o| json!({"order_id": o})).unwrap_or(json!({})),
                }}
            })
        })
}

#[test]
fn post_api_shop_answers_2xx_or_a_4xx_error_never_a_5xx() {
    let strategy = (body_bytes(), content_type(), prop::option::of(".{0,20}"));
    Served::start().check(256, strategy, |s, (body, ct, key)| {
        let headers: Vec<(String, String)> = key
            .filter(|k| reqwest::header::HeaderValue::from_str(k).is_ok())
            .map(|k| vec![("Idempotency-Key".to_string(), k)])
            .unwrap_or_default();
        let (status, answer) = s.post("/api/shop", ct, &headers, body);
        prop_assert!(status < 500, "5xx: {status} {answer}");
        if !(200..300).contains(&status) {
            prop_assert!((400..500).contains(&status), "{status}");
            prop_assert!(helpers::is_error_shape(&answer), "{status} {answer}");
        }
        Ok(())
    });
}

#[test]
fn an_unsigned_or_forged_webhook_is_a_4xx() {
    let strategy = (body_bytes(), signature_header());
    Served::start().check(256, strategy, |s, (body, sig)| {
        let headers: Vec<(String, String)> = sig
            .filter(|s| reqwest::header::HeaderValue::from_str(s).is_ok())
            .map(|s| vec![("Stripe-Signature".to_string(), s)])
            .unwrap_or_default();
        let (status, answer) = s.post(
            "/api/stripe-webhook",
            Some("application/json"),
            &headers,
            body,
        );
        prop_assert!(
            (400..500).contains(&status) && status != 404,
            "{status} {answer}"
        );
        Ok(())
    });
}

#[test]
fn a_signed_webhook_of_any_shape_is_never_a_5xx() {
    let strategy = prop_oneof![
        event_json().prop_map(|v| v.to_string()),
        any_json().prop_map(|v| v.to_string()),
    ];
    Served::start().check(256, strategy, |s, body| {
        let sig = sign_payload(
            &body,
            helpers::WEBHOOK_SECRET,
            chrono::Utc::now().timestamp(),
        );
        let headers = vec![("Stripe-Signature".to_string(), sig)];
        let (status, answer) = s.post(
            "/api/stripe-webhook",
            Some("application/json"),
            &headers,
            body.into_bytes(),
        );
        prop_assert!(status < 500 && status != 404, "{status} {answer}");
        if !(200..300).contains(&status) {
            prop_assert!((400..500).contains(&status), "{status}");
        }
        Ok(())
    });
}

/// A storefront checkout of any content the door may accept: emails, carts, metadata keys
/// and values of any characters (brackets and long keys included: the door refuses those).
fn storefront_checkout() -> impl Strategy<Value = Value> {
    let key = prop_oneof!["[a-z_]{1,40}", "\\PC{1,40}", "[a-z\\[\\]]{1,12}"];
    let url = prop_oneof![
        Just("https://shop.example/thanks?s={CHECKOUT_SESSION_ID}".to_owned()),
        "https?://[a-z]{1,12}\\.example(:[0-9]{2,4})?/[a-zA-Z0-9/?=&%_.~-]{0,60}",
    ];
    (
        "[a-z0-9.+_-]{1,20}@[a-z0-9-]{1,12}\\.[a-z]{2,6}",
        prop::collection::vec(
            ("price_[A-Za-z0-9_]{1,100}", 1..=MAX_QTY),
            1..=MAX_CART_LINES,
        ),
        prop::collection::btree_map(key, "\\PC{0,200}", 0..=MAX_METADATA_KEYS),
        (url.clone(), url),
    )
        .prop_map(|(email, cart, metadata, (success_url, cancel_url))| {
            let cart: Vec<Value> = cart
                .into_iter()
                .map(|(price, qty)| json!({"price_id": price, "qty": qty}))
                .collect();
            json!({"__action": "create_checkout_session", "customer": {"email": email},
                "cart": cart, "metadata": metadata,
                "success_url": success_url, "cancel_url": cancel_url})
        })
}

/// What the worker sends Stripe for a checkout the door accepted.
fn session_form(c: &NewCheckout) -> String {
    use h2s_dispatch::orders::{OrderId, repo::SessionInputs};
    let inputs = SessionInputs {
        order_id: OrderId::generate(),
        status: "pending_payment".into(),
        customer_email: c.customer.email.as_str().to_owned(),
        cart_json: c.cart.clone(),
        metadata_json: c.metadata.clone(),
        success_url: Some(c.success_url.as_str().to_owned()),
        cancel_url: Some(c.cancel_url.as_str().to_owned()),
        checkout_trace_id: Some(uuid::Uuid::new_v4()),
        dispatch_job_id: None,
        stripe_session_id: None,
        created_at: chrono::Utc::now(),
        capture_method: "automatic".into(),
        pay_attempt: 0,
        attempt_started_at: chrono::Utc::now(),
    };
    h2s_dispatch::stripe::sessions::create_body(&inputs, uuid::Uuid::new_v4())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Issue 33: nothing the door accepts fails later at Stripe for its parameters: the
    /// session our client creates for any accepted checkout, and any refund it asks for,
    /// pass Stripe's published request schemas as the stand-in checks them.
    #[test]
    fn everything_our_client_sends_for_an_accepted_checkout_passes_stripes_request_schemas(
        body in storefront_checkout(),
        amount in 1..=i64::from(u32::MAX),
        payment_intent in "pi_[A-Za-z0-9]{24}",
    ) {
        if let Some(Ok(checkout)) = parse(&body) {
            let form = session_form(&checkout);
            let checked = stripe_standin::check_request("POST /v1/checkout/sessions", &form);
            prop_assert_eq!(checked, Ok(()), "{}", form);
        }
        let (request_id, order_id) = (
            uuid::Uuid::new_v4().to_string(),
            h2s_dispatch::orders::OrderId::generate(),
        );
        let refund = h2s_dispatch::stripe::refunds::RefundCall {
            request_id: &request_id,
            payment_intent: &payment_intent,
            amount,
            order_id: order_id.as_str(),
        };
        let form = refund.body();
        prop_assert_eq!(stripe_standin::check_request("POST /v1/refunds", &form), Ok(()), "{}", form);
    }
}
