//! The OpenAPI description (issue 11): served at `/openapi.json`, equal to the committed
//! `docs/openapi.json`, and the docs' example requests and the API's real answers fit it.
//! `OPENAPI_WRITE=1 cargo test --test api openapi` rewrites the committed file.

use serde_json::{Value, json};

use crate::helpers::{WEBHOOK_SECRET, checkout_body, spawn_app};

pub(crate) const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

/// A small validator for the subset of JSON Schema that utoipa writes: `$ref`, `type`
/// (one or a list), `properties`, `required`, `items`, `additionalProperties`, `oneOf`,
/// `allOf`, `enum`, `pattern` (anchored literal prefixes only), `minimum`/`maximum`,
/// `minItems`/`maxItems`. Returns what does not fit, with its JSON path.
fn check(doc: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(
            doc,
            &doc["components"]["schemas"][name],
            value,
            path,
            errors,
        );
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options.iter().filter(|s| {
            let mut e = vec![];
            check(doc, s, value, path, &mut e);
            e.is_empty()
        });
        if fits.count() != 1 {
            errors.push(format!("{path}: fits not exactly one of oneOf"));
        }
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(doc, part, value, path, errors);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == type_of || (*t == "number" && type_of == "integer"))
    {
        errors.push(format!("{path}: {type_of}, expected {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} not in {allowed:?}"));
    }
    match value {
        Value::Object(map) => {
            for name in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(name.as_str().unwrap()) {
                    errors.push(format!("{path}: missing required {name}"));
                }
            }
            let properties = schema["properties"].as_object();
            for (k, v) in map {
                let child = format!("{path}.{k}");
                match properties.and_then(|p| p.get(k)) {
                    Some(s) => check(doc, s, v, &child, errors),
                    None => match &schema["additionalProperties"] {
                        Value::Bool(false) => errors.push(format!("{child}: not allowed")),
                        s @ Value::Object(_) => check(doc, s, v, &child, errors),
                        // Unknown fields are ignored by the API; a response with one is
                        // undocumented, which the response check below refuses.
                        _ if properties.is_some() => errors.push(format!("{child}: not described")),
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if schema["minItems"].as_u64().is_some_and(|m| n < m)
                || schema["maxItems"].as_u64().is_some_and(|m| n > m)
            {
                errors.push(format!("{path}: {n} items"));
            }
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            if schema["minimum"].as_f64().is_some_and(|m| x < m)
                || schema["maximum"].as_f64().is_some_and(|m| x > m)
            {
                errors.push(format!("{path}: {x} out of range"));
            }
        }
        Value::String(s) => {
            if let Some(p) = schema["pattern"].as_str() {
                // The patterns here are `^literal...`: check the literal prefix.
                let literal: String = p
                    .trim_start_matches('^')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !s.starts_with(&literal) {
                    errors.push(format!("{path}: {s:?} does not match {p}"));
                }
            }
        }
        _ => {}
    }
}

pub(crate) fn fits(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = vec![];
    check(doc, schema, value, "$", &mut errors);
    errors
}

/// The schema of `method path`'s answer with `status`.
pub(crate) fn response_schema<'a>(
    doc: &'a Value,
    method: &str,
    path: &str,
    status: u16,
) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status} is not described"
    );
    schema
}

/// The `-d '...'` bodies of the docs' `curl` examples to `/api/shop`: the HTTP reference's
/// first (it names its return URLs), then the tutorial's.
fn documented_checkout_examples() -> Vec<Value> {
    let pages = [
        include_str!("../../docs/reference/http-api.md"),
        include_str!("../../docs/tutorial/first-order.md"),
    ];
    let mut examples = vec![];
    for (page, at) in pages.iter().flat_map(|page| {
        page.match_indices("/api/shop")
            .map(move |(at, _)| (page, at))
    }) {
        let rest = &page[at..];
        let Some(start) = rest.find("-d '") else {
            continue;
        };
        // The body belongs to this command: before the next blank line.
        if rest[..start].contains("\n\n") {
            continue;
        }
        let body = &rest[start + 4..];
        let end = body.find('\'').unwrap();
        examples.push(serde_json::from_str(&body[..end]).expect("a documented example is JSON"));
    }
    examples
}

#[tokio::test]
async fn the_served_description_equals_the_committed_one() {
    let app = spawn_app().await;
    let served: Value = app
        .http
        .get(format!("{}/openapi.json", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let document = h2s_dispatch::http::openapi_document();
    if std::env::var_os("OPENAPI_WRITE").is_some() {
        std::fs::write(COMMITTED, &document).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).expect("docs/openapi.json");
    assert_eq!(
        committed, document,
        "docs/openapi.json is stale: OPENAPI_WRITE=1 cargo test --test api openapi"
    );
    let committed: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(served, committed);
    for path in [
        "/api/shop",
        "/api/orders/{order_id}",
        "/api/stripe-webhook",
        "/api/admin/reconcile",
        "/api/admin/orders/{order_id}/refunds",
        "/api/admin/dispatch-jobs/{job_id}/schedule",
        "/api/admin/dispatch-jobs/{job_id}/complete",
        "/api/admin/dispatch-jobs/{job_id}/cancel",
        "/metrics",
    ] {
        assert!(served["paths"][path].is_object(), "{path} undescribed");
    }
    // OpenAPI requires each operation id to be unique.
    let mut ids: Vec<&str> = served["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let operations = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), operations, "duplicate operation ids");
    app.shutdown().await;
}

#[tokio::test]
async fn the_documented_examples_and_real_answers_fit_the_description() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    let request =
        &doc["paths"]["/api/shop"]["post"]["requestBody"]["content"]["application/json"]["schema"];

    // The documented requests, and what the API refuses does not fit.
    let examples = documented_checkout_examples();
    assert!(examples.len() >= 2, "the examples were found: {examples:?}");
    for example in &examples {
        assert_eq!(
            fits(&doc, request, example),
            Vec::<String>::new(),
            "{example}"
        );
    }
    let mut bad = checkout_body("a@b.com");
    bad["cart"][0]["qty"] = json!(0);
    assert!(!fits(&doc, request, &bad).is_empty(), "qty 0 fits");
    bad["cart"] = json!([]);
    assert!(!fits(&doc, request, &bad).is_empty(), "an empty cart fits");

    // Real answers.
    let app = spawn_app().await;
    let answer = app.post_checkout(&examples[0]).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let schema = response_schema(&doc, "post", "/api/shop", 200);
    assert_eq!(fits(&doc, schema, &body), Vec::<String>::new(), "{body}");
    let order_id = body["order_id"].as_str().unwrap();
    // A 200 answer does not fit the 202 shape: the check can tell them apart.
    let processing = response_schema(&doc, "post", "/api/shop", 202);
    assert!(!fits(&doc, processing, &body).is_empty());

    let status: Value = app
        .http
        .get(format!("{}/api/orders/{order_id}", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = response_schema(&doc, "get", "/api/orders/{order_id}", 200);
    assert_eq!(
        fits(&doc, schema, &status),
        Vec::<String>::new(),
        "{status}"
    );

    let refused = app.post_checkout(&bad).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    let schema = response_schema(&doc, "post", "/api/shop", 400);
    assert_eq!(fits(&doc, schema, &body), Vec::<String>::new(), "{body}");

    let payload = include_str!("../fixtures/stripe/event.envelope.json");
    let now = chrono::Utc::now().timestamp();
    let ack = app
        .http
        .post(format!("{}/api/stripe-webhook", app.base_url))
        .header("content-type", "application/json")
        .header(
            "Stripe-Signature",
            stripe_standin::sign_payload(payload, WEBHOOK_SECRET, now),
        )
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    let body: Value = ack.json().await.unwrap();
    let schema = response_schema(&doc, "post", "/api/stripe-webhook", 200);
    assert_eq!(fits(&doc, schema, &body), Vec::<String>::new(), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_operator_routes_answers_fit_the_description() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    let app = spawn_app().await;
    let (order_id, _) = crate::money::paid_order(&app, "openapi-refund@example.com").await;
    let refunds = "/api/admin/orders/{order_id}/refunds";
    let fit = |method: &str, path: &str, status: u16, body: &Value| {
        let schema = response_schema(&doc, method, path, status);
        assert_eq!(
            fits(&doc, schema, body),
            Vec::<String>::new(),
            "{path} {status}: {body}"
        );
    };

    let accepted = app
        .request_refund(&order_id, &json!({"amount": 1_000, "reason": "a"}), None)
        .await;
    fit("post", refunds, 202, &accepted.body);
    let too_much = app
        .request_refund(
            &order_id,
            &json!({"amount": 1_000_000, "reason": "a"}),
            None,
        )
        .await;
    fit("post", refunds, 422, &too_much.body);
    app.settled_requests(&order_id).await;
    let url = format!("{}/api/admin/orders/{order_id}/refunds", app.base_url);
    fit("get", refunds, 200, &app.admin_get(url).await);

    let job_id = app.job_id(&order_id).await;
    let early = app.job_action(&job_id, "complete", None).await;
    fit(
        "post",
        "/api/admin/dispatch-jobs/{job_id}/complete",
        409,
        &early.body,
    );
    let booked = app
        .job_action(&job_id, "schedule", Some(crate::refund_steps::visit()))
        .await;
    fit(
        "post",
        "/api/admin/dispatch-jobs/{job_id}/schedule",
        200,
        &booked.body,
    );
    app.shutdown().await;
}
