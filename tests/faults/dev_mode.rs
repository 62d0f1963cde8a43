//! `api --dev` as a developer first meets it: the seed's own request, which names no return
//! URLs, is answered with a pay link, the sandbox's own shop pages standing in for the
//! storefront's thank-you and cart pages.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    drop_database, fresh_database_url, main_cluster, one_at_a_time, spawn_api_with,
};

async fn get_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// The pay link of `order`, from the checkout's answer or, after a 202, from its status URL.
async fn pay_link(http: &reqwest::Client, base: &str, answer: &Value) -> Value {
    if !answer["pay"].is_null() {
        return answer["pay"].clone();
    }
    let status_url = answer["status_url"]
        .as_str()
        .expect("a 202 names its status URL");
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let order = get_json(http.get(format!("{base}{status_url}"))).await;
        if !order["pay"].is_null() {
            return order["pay"].clone();
        }
        assert!(Instant::now() < end, "no pay link in time: {order}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_answers_a_checkout_without_return_urls_with_the_sandboxs_own_pages() {
    let _serial = one_at_a_time().await;
    let db = fresh_database_url(&main_cluster(), "faults_dev_urls");
    let mut api = spawn_api_with(&["--dev", "--database-url", &db], &[]).await;
    let http = reqwest::Client::new();

    let response = http
        .post(format!("{}/api/shop", api.base_url))
        .json(&json!({
            "__action": "create_checkout_session",
            "customer": {"email": "dev@example.com", "name": "Dev", "phone": "+15551234567"},
            "cart": [{"price_id": "price_123", "qty": 1}],
            "metadata": {"service_address": "123 Test St"}
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert!(status == 200 || status == 202, "{status}: {answer}");
    let pay = pay_link(&http, &api.base_url, &answer).await;
    let session_url = pay["session_url"].as_str().expect("a session URL");
    let session_id = pay["session_id"].as_str().expect("a session id");

    // The session's return URLs are the sandbox's shop pages, and they are served.
    let sandbox = url::Url::parse(session_url).unwrap();
    let sandbox = format!("http://{}", sandbox.authority());
    let session = get_json(
        http.get(format!("{sandbox}/v1/checkout/sessions/{session_id}"))
            .bearer_auth("sk_test_local_sandbox"),
    )
    .await;
    for (field, page) in [
        ("success_url", "/shop/thanks"),
        ("cancel_url", "/shop/cart"),
    ] {
        let url = session[field].as_str().unwrap_or_default();
        assert_eq!(url, format!("{sandbox}{page}"), "{field}: {session}");
        let served = http.get(url).send().await.unwrap();
        assert_eq!(served.status().as_u16(), 200, "{url}");
    }
    crate::report!("[faults/dev_mode] checkout without URLs: {status}, pay link {session_url}");

    assert_eq!(api.proc.terminate(Duration::from_secs(15)), Some(0));
    drop_database(&db).await;
}
