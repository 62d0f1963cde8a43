//! Issue 25: event endpoints through the admin API. The secret is shown at creation and at
//! rotation only; loopback, private and plain-http URLs are refused unless the setting allows
//! them; bad input is a 400 with nothing written.

use base64::Engine;
use serde_json::{Value, json};

use crate::{event_steps::spawn_feed_app, helpers::spawn_app};

fn decoded_secret(secret: &str) -> Vec<u8> {
    let key = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("base64")
}

#[tokio::test]
async fn an_endpoint_is_created_with_a_secret_shown_once_and_listed_without_it() {
    let app = spawn_app().await;
    let created = app
        .create_endpoint(&json!({
            "url": "https://93.184.215.14/hooks?tenant=7",
            "event_types": ["job.cancelled", "order.refunded", "job.cancelled"],
        }))
        .await;

    assert_eq!(created.status, 201, "{}", created.body);
    let body = created.body.as_object().unwrap();
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["enabled", "event_types", "id", "ok", "secret", "url"]
    );
    assert_eq!(body["url"], "https://93.184.215.14/hooks?tenant=7");
    assert_eq!(
        body["event_types"],
        json!(["job.cancelled", "order.refunded"])
    );
    assert_eq!(body["enabled"], true);
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(decoded_secret(secret).len(), 32);
    let stored: String = sqlx::query_scalar("SELECT secret FROM h2s_event_endpoints")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, secret);

    let listed = app.list_endpoints().await;
    let text = listed.to_string();
    assert!(!text.contains(secret) && !text.contains("whsec_"), "{text}");
    let endpoint = &listed["endpoints"][0];
    assert_eq!(endpoint["id"], body["id"]);
    assert!(endpoint.get("secret").is_none() && endpoint.get("previous_secret").is_none());
    let every = app
        .create_endpoint(&json!({"url": "https://93.184.215.14/all"}))
        .await;
    assert_eq!(
        every.body["event_types"],
        Value::Null,
        "left out: every type"
    );
    let other = every.body["secret"].as_str().unwrap();
    assert_ne!(other, secret, "each endpoint its own secret");
    app.shutdown().await;
}

#[tokio::test]
async fn loopback_private_and_plain_http_urls_are_refused_without_the_setting() {
    let app = spawn_app().await;
    for url in [
        "http://93.184.215.14/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost:8443/hooks",
        "https://hooks.localhost/",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://172.20.0.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hooks",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "https://192.0.2.1/hooks",
        "ftp://93.184.215.14/hooks",
    ] {
        let answer = app.create_endpoint(&json!({"url": url})).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "address_refused"),
            "{url}"
        );
        assert_eq!(answer.body["error"]["field"], "url");
    }
    let unresolvable = app
        .create_endpoint(&json!({"url": "https://no-such-host.invalid/hooks"}))
        .await;
    assert_eq!(
        (unresolvable.status, unresolvable.code()),
        (400, "address_refused")
    );
    let localhost = app
        .create_endpoint(&json!({"url": "https://localhost/hooks"}))
        .await;
    let message = localhost.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("loopback") && !message.contains("127.0.0.1"),
        "{message}"
    );
    assert_eq!(app.count("h2s_event_endpoints").await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn the_setting_allows_local_receivers_over_http_but_no_other_scheme() {
    let app = spawn_feed_app().await;
    for url in [
        "http://127.0.0.1:8099/hooks",
        "http://localhost:8099/hooks",
        "https://[::1]:8443/hooks",
        "http://10.0.0.7/hooks",
    ] {
        let answer = app.create_endpoint(&json!({"url": url})).await;
        assert_eq!(answer.status, 201, "{url}: {}", answer.body);
    }
    let ftp = app
        .create_endpoint(&json!({"url": "ftp://127.0.0.1/hooks"}))
        .await;
    assert_eq!((ftp.status, ftp.code()), (400, "address_refused"));
    assert_eq!(app.count("h2s_event_endpoints").await, 4);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_refused_with_nothing_written() {
    let app = spawn_feed_app().await;
    let cases = [
        (
            json!({"url": "http://127.0.0.1/h", "event_types": ["job.teleported"]}),
            "event_types",
        ),
        (
            json!({"url": "http://127.0.0.1/h", "event_types": []}),
            "event_types",
        ),
        (json!({"url": "http://user:pw@127.0.0.1/h"}), "url"),
        (json!({"url": "not a url"}), "url"),
    ];
    for (body, field) in cases {
        let answer = app.create_endpoint(&body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "invalid_input"),
            "{body}"
        );
        assert_eq!(answer.body["error"]["field"], field, "{body}");
    }
    for body in [
        json!({}),
        json!({"url": "http://127.0.0.1/h", "secret": "mine"}),
    ] {
        assert_eq!(app.create_endpoint(&body).await.status, 400, "{body}");
    }
    let unauthorised = app
        .http
        .post(format!("{}/api/admin/event-endpoints", app.base_url))
        .json(&json!({"url": "http://127.0.0.1/h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status().as_u16(), 401);
    assert_eq!(app.count("h2s_event_endpoints").await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_is_patched_rotated_and_deleted() {
    let app = spawn_feed_app().await;
    let id = app.subscribe(Some(&["job.ready"])).await;
    let before: String = sqlx::query_scalar("SELECT secret FROM h2s_event_endpoints")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let off = app.patch_endpoint(&id, &json!({"enabled": false})).await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["endpoint"]["enabled"], false);
    assert_eq!(off.body["endpoint"]["disabled_reason"], "operator");
    assert_eq!(off.body["endpoint"]["event_types"], json!(["job.ready"]));
    let all = app
        .patch_endpoint(&id, &json!({"enabled": true, "event_types": null}))
        .await;
    assert_eq!(all.body["endpoint"]["event_types"], Value::Null);
    assert_eq!(all.body["endpoint"]["disabled_reason"], Value::Null);
    for bad in [
        json!({}),
        json!({"event_types": ["nope"]}),
        json!({"enabeld": true}),
    ] {
        assert_eq!(app.patch_endpoint(&id, &bad).await.status, 400, "{bad}");
    }
    assert_eq!(
        app.list_endpoints().await["endpoints"][0]["event_types"],
        Value::Null
    );

    let rotated = app.rotate_endpoint_secret(&id).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let secret = rotated.body["secret"].as_str().unwrap();
    assert_ne!(secret, before);
    assert_eq!(decoded_secret(secret).len(), 32);
    let (now, previous, hours): (String, Option<String>, f64) = sqlx::query_as(
        "SELECT secret, previous_secret,
                extract(epoch FROM previous_secret_until - now())::float8 / 3600
         FROM h2s_event_endpoints",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (now.as_str(), previous.as_deref()),
        (secret, Some(before.as_str()))
    );
    assert!((23.9..=24.0).contains(&hours), "{hours}");
    assert!(!app.list_endpoints().await.to_string().contains("whsec_"));

    assert_eq!(app.delete_endpoint(&id).await.status, 200);
    assert_eq!(app.delete_endpoint(&id).await.status, 404);
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.rotate_endpoint_secret(&unknown).await.status, 404);
    assert_eq!(
        app.patch_endpoint(&unknown, &json!({"enabled": true}))
            .await
            .status,
        404
    );
    assert_eq!(app.delete_endpoint("not-a-uuid").await.status, 404);
    assert_eq!(app.list_endpoints().await["endpoints"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn the_endpoint_routes_answers_fit_the_description() {
    use crate::openapi::{COMMITTED, fits, response_schema};
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    let app = spawn_feed_app().await;
    let (one, collection) = (
        "/api/admin/event-endpoints/{id}",
        "/api/admin/event-endpoints",
    );
    let fit = |method: &str, path: &str, status: u16, body: &Value| {
        let schema = response_schema(&doc, method, path, status);
        let errors = fits(&doc, schema, body);
        assert_eq!(
            errors,
            Vec::<String>::new(),
            "{method} {path} {status}: {body}"
        );
    };

    let created = app
        .create_endpoint(&json!({"url": "http://127.0.0.1:9/h", "event_types": ["order.paid"]}))
        .await;
    fit("post", collection, 201, &created.body);
    let id = created.body["id"].as_str().unwrap();
    let refused = app
        .create_endpoint(&json!({"url": "ftp://127.0.0.1/h"}))
        .await;
    fit("post", collection, 400, &refused.body);
    app.patch_endpoint(id, &json!({"enabled": false})).await;
    fit("get", collection, 200, &app.list_endpoints().await);
    let patched = app.patch_endpoint(id, &json!({"event_types": null})).await;
    fit("patch", one, 200, &patched.body);
    let rotated = app.rotate_endpoint_secret(id).await;
    fit(
        "post",
        "/api/admin/event-endpoints/{id}/rotate-secret",
        200,
        &rotated.body,
    );
    fit("delete", one, 200, &app.delete_endpoint(id).await.body);
    fit("delete", one, 404, &app.delete_endpoint(id).await.body);
    app.shutdown().await;
}
