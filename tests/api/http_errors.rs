//! Every error answer of the api has the JSON error shape, including those the framework makes
//! (405) and the request timeout's (issue 10).

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Options, checkout_body, spawn_app, spawn_app_with};

fn is_error_shape(body: &Value, code: &str) -> bool {
    body["ok"] == false && body["error"]["code"] == code && body["error"]["message"].is_string()
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_that_keeps_its_allow_header() {
    let app = spawn_app().await;
    let r = app
        .http
        .put(format!("{}/api/shop", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.headers().get("allow").is_some(), "{:?}", r.headers());
    let body: Value = r.json().await.expect("a JSON body");
    assert!(is_error_shape(&body, "method_not_allowed"), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/no/such/route", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.expect("a JSON body");
    assert!(is_error_shape(&body, "not_found"), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_request_over_the_timeout_is_answered_503_timeout_in_the_error_shape() {
    // No worker, and a checkout wait longer than the timeout: the request cannot finish.
    let app = spawn_app_with(Options {
        start_worker: false,
        checkout_wait: Duration::from_secs(5),
        request_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let started = std::time::Instant::now();
    let r = app.post_checkout(&checkout_body("slow@example.com")).await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let body: Value = r.json().await.expect("a JSON body");
    assert!(is_error_shape(&body, "timeout"), "{body}");
    app.shutdown().await;
}

/// Issue 33: a query string, a path or a body field of the wrong form is a 400 in the JSON
/// shape naming the field (axum's own rejections are `text/plain`).
#[tokio::test]
async fn query_path_and_body_errors_are_json_and_name_their_field() {
    let app = spawn_app().await;
    let get = |path: &str| {
        app.http
            .get(format!("{}{path}", app.base_url))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .send()
    };
    for (path, field) in [
        ("/api/admin/orders?limit=abc", "limit"),
        (
            "/api/admin/dispatch-jobs?limit=9223372036854775808",
            "limit",
        ),
        ("/api/admin/dispatch-jobs?limit=0", "limit"),
        ("/api/admin/outbox/dead?limit=1001", "limit"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: Value = r.json().await.expect("a JSON body");
        assert!(is_error_shape(&body, "invalid_input"), "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    let r = app
        .http
        .post(format!("{}/api/admin/reconcile?dry_run=yes", app.base_url))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "dry_run", "{body}");

    // A path segment that is not UTF-8 once decoded.
    let r = get("/api/orders/%FF").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("a JSON body");
    assert!(is_error_shape(&body, "invalid_input"), "{body}");

    // An unknown field of an admin body is refused by name; a whole-number float is the
    // integer it is, a fractional one is refused naming the field.
    let (order_id, _) = crate::money::paid_order(&app, "errors@example.com").await;
    let (typo, fractional, whole) = (
        serde_json::json!({"reason": "x", "cancel_jb": true}),
        serde_json::json!({"reason": "x", "amount": 100.5}),
        serde_json::json!({"reason": "x", "amount": 100.0}),
    );
    let typo = app.request_refund(&order_id, &typo, None).await;
    assert_eq!(typo.status, 400, "{:?}", typo.body);
    assert_eq!(typo.body["error"]["field"], "cancel_jb", "{:?}", typo.body);
    let fractional = app.request_refund(&order_id, &fractional, None).await;
    assert_eq!(fractional.status, 400);
    assert_eq!(
        fractional.body["error"]["field"], "amount",
        "{:?}",
        fractional.body
    );
    assert_eq!(app.count("h2s_refund_requests").await, 0, "nothing written");
    let whole = app.request_refund(&order_id, &whole, None).await;
    assert_eq!(whole.status, 202, "{:?}", whole.body);
    app.shutdown().await;
}
