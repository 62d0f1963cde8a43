//! Every request's parameters checked against Stripe's published request schemas
//! (`openapi/requests.json`, extracted from Stripe's SDK: see `openapi/README.md`), and refused
//! as Stripe refuses them: 400 `invalid_request_error` with the code and the `param` path
//! (`parameter_unknown` for `line_items[0][qty]`), plus Stripe's documented metadata limits
//! (50 keys, keys up to 40 characters without `[` or `]`, values up to 500 characters).

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::error::StripeError;
use crate::fault_layer::error_response;
use crate::params::{Param, display, tree};

const REQUESTS: &str = include_str!("../openapi/requests.json");

pub(crate) const METADATA_MAX_KEYS: usize = 50;
pub(crate) const METADATA_MAX_KEY_CHARS: usize = 40;
pub(crate) const METADATA_MAX_VALUE_CHARS: usize = 500;

/// The schema of `endpoint` (`"POST /v1/refunds"`, routes as the stand-in names them).
fn schema(endpoint: &str) -> Option<&'static Value> {
    static SCHEMAS: OnceLock<Value> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| serde_json::from_str(REQUESTS).expect("requests.json"));
    all["endpoints"].get(endpoint)
}

/// Checks the form parameters (`a=1&b[c]=2`, a body or a query string) of a request to
/// `endpoint` (`"POST /v1/checkout/sessions"`, `"GET /v1/checkout/sessions/{id}"`). Endpoints
/// without a schema pass.
pub(crate) fn check(endpoint: &str, form: &str) -> Result<(), StripeError> {
    let Some(schema) = schema(endpoint) else {
        return Ok(());
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let root = tree(&pairs).map_err(|c| invalid(None, format!("Invalid {}", c.0), &c.0))?;
    object(schema, &root, &[])
}

fn invalid(code: Option<&'static str>, message: String, param: &str) -> StripeError {
    let mut err = StripeError::invalid("parameter_invalid", message, Some(param.to_owned()));
    err.code = code;
    err
}

fn child(path: &[String], key: &str) -> Vec<String> {
    let mut p = path.to_vec();
    p.push(key.to_owned());
    p
}

fn check_param(schema: &Value, param: &Param, path: &[String]) -> Result<(), StripeError> {
    if let Some(options) = schema["anyOf"].as_array() {
        return any_of(options, param, path);
    }
    let name = display(path);
    match (schema["type"].as_str(), param) {
        (_, Param::Value(v)) if v.is_empty() && !accepts_empty(schema) => Err(empty(&name)),
        (Some("object"), Param::Node(children)) => object(schema, children, path),
        (Some("array"), Param::Node(items)) => array(schema, items, path),
        (Some("map"), Param::Node(entries)) => metadata(entries, path),
        (Some(kind), Param::Value(v)) => scalar(schema, kind, v, &name),
        (Some(kind), _) => Err(invalid(None, format!("Invalid {kind}"), &name)),
        (None, _) => Ok(()),
    }
}

/// `""` unsets a parameter where the schema allows it (`Literal['']`), and is any map value.
fn accepts_empty(schema: &Value) -> bool {
    schema["enum"]
        .as_array()
        .is_some_and(|e| e.iter().any(|v| v == ""))
}

fn empty(name: &str) -> StripeError {
    invalid(
        Some("parameter_invalid_empty"),
        format!(
            "You passed an empty string for '{name}'. We assume empty values are an attempt to \
             unset a parameter; however '{name}' cannot be unset. You should remove '{name}' \
             from your request or supply a non-empty value."
        ),
        name,
    )
}

fn any_of(options: &[Value], param: &Param, path: &[String]) -> Result<(), StripeError> {
    // The error of the first option of the param's own shape tells the most.
    let mut kept: Option<(StripeError, bool)> = None;
    for option in options {
        match check_param(option, param, path) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let fits = shape_fits(option, param);
                if kept
                    .as_ref()
                    .is_none_or(|(_, kept_fits)| fits && !kept_fits)
                {
                    kept = Some((e, fits));
                }
            }
        }
    }
    Err(kept.map_or_else(
        || invalid(None, "Invalid value".into(), &display(path)),
        |(e, _)| e,
    ))
}

fn shape_fits(schema: &Value, param: &Param) -> bool {
    let nested = matches!(schema["type"].as_str(), Some("object" | "array" | "map"));
    nested == matches!(param, Param::Node(_))
}

fn object(
    schema: &Value,
    children: &[(String, Param)],
    path: &[String],
) -> Result<(), StripeError> {
    let properties = &schema["properties"];
    for (key, param) in children {
        let at = child(path, key);
        match properties.get(key) {
            Some(s) => check_param(s, param, &at)?,
            None => return Err(unknown(&at, properties)),
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let required = required.as_str().unwrap_or_default();
        if !children.iter().any(|(k, _)| k == required) {
            return Err(StripeError::parameter_missing(&display(&child(
                path, required,
            ))));
        }
    }
    Ok(())
}

/// Stripe's answer to a parameter it does not know, with its guess when one is close.
fn unknown(path: &[String], known: &Value) -> StripeError {
    let name = display(path);
    let sent = path.last().map(String::as_str).unwrap_or_default();
    let guess = known.as_object().and_then(|known| {
        known
            .keys()
            .map(|k| (distance(sent, k), k))
            .filter(|(d, k)| *d <= 2.max(k.len() / 4))
            .min()
    });
    let message = match guess {
        Some((_, k)) => format!("Received unknown parameter: {name}. Did you mean {k}?"),
        None => format!("Received unknown parameter: {name}"),
    };
    invalid(Some("parameter_unknown"), message, &name)
}

/// Levenshtein distance (names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Items indexed 0, 1, 2... without a gap (in any order).
fn array(schema: &Value, items: &[(String, Param)], path: &[String]) -> Result<(), StripeError> {
    let name = display(path);
    let mut indices: Vec<usize> = Vec::with_capacity(items.len());
    for (index, item) in items {
        let Ok(i) = index.parse::<usize>() else {
            return Err(invalid(None, format!("Invalid array: {name}"), &name));
        };
        check_param(&schema["items"], item, &child(path, index))?;
        indices.push(i);
    }
    indices.sort_unstable();
    if indices.iter().enumerate().any(|(want, got)| want != *got) {
        return Err(invalid(None, format!("Invalid array: {name}"), &name));
    }
    Ok(())
}

/// Stripe's documented metadata limits.
fn metadata(entries: &[(String, Param)], path: &[String]) -> Result<(), StripeError> {
    let name = display(path);
    if entries.len() > METADATA_MAX_KEYS {
        let message = format!("Invalid {name}: at most {METADATA_MAX_KEYS} keys are allowed.");
        return Err(invalid(None, message, &name));
    }
    for (key, value) in entries {
        let at = display(&child(path, key));
        if key.contains(['[', ']']) {
            let message = format!("Invalid {name}: keys can't contain `[` or `]` ({key}).");
            return Err(invalid(None, message, &at));
        }
        if key.is_empty() || key.chars().count() > METADATA_MAX_KEY_CHARS {
            let message = format!(
                "Invalid {name}: keys must be 1 to {METADATA_MAX_KEY_CHARS} characters ({key})."
            );
            return Err(invalid(None, message, &at));
        }
        match value {
            Param::Value(v) if v.chars().count() <= METADATA_MAX_VALUE_CHARS => {}
            Param::Value(_) => {
                let message = format!(
                    "Invalid {name}: values can be at most {METADATA_MAX_VALUE_CHARS} characters ({key})."
                );
                return Err(invalid(None, message, &at));
            }
            Param::Node(_) => {
                return Err(invalid(None, format!("Invalid string: {at}"), &at));
            }
        }
    }
    Ok(())
}

fn scalar(schema: &Value, kind: &str, value: &str, name: &str) -> Result<(), StripeError> {
    let ok = match kind {
        "string" => match schema["enum"].as_array() {
            Some(allowed) if !allowed.iter().any(|a| a == value) => {
                let allowed: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                let message = format!("Invalid {name}: must be one of {}", allowed.join(", "));
                return Err(invalid(None, message, name));
            }
            _ => true,
        },
        "integer" => value.parse::<i64>().is_ok(),
        "number" => value.parse::<f64>().is_ok_and(f64::is_finite),
        "boolean" => matches!(value, "true" | "false"),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let code = (kind == "integer").then_some("parameter_invalid_integer");
    Err(invalid(code, format!("Invalid {kind}: {value}"), name))
}

/// The layer that checks every `/v1` request before its handler: the body of a `POST`, the
/// query string of a `GET`, against the schema of its route.
pub(crate) async fn layer(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let endpoint = format!("{} {route}", request.method());
    if request.method() == Method::GET {
        let query = request.uri().query().unwrap_or_default().to_owned();
        if let Err(err) = check(&endpoint, &query) {
            return error_response(&err);
        }
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        let err = StripeError::invalid("parameter_invalid", "The request body is too large.", None);
        return error_response(&err);
    };
    if let Err(err) = check(&endpoint, &String::from_utf8_lossy(&bytes)) {
        return error_response(&err);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
