//! `api --dev` as a developer first meets it: the seed's own request, which names no return
//! URLs, is answered with a pay link, the sandbox's own shop pages standing in for the
//! storefront's thank-you and cart pages.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    drop_database, fresh_database_url, main_cluster, one_at_a_time, spawn_api_with,
};

async fn get_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
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
    // `--dev` runs the worker in the process, on an idle sandbox: the pay link comes
    // within the wait budget, so the answer is the 200 with it, as the storefront asks.
    assert_eq!(status, 200, "{answer}");
    let pay = &answer["pay"];
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
