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
