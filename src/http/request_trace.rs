//! One span per request (tower-http `TraceLayer`) named by a request id: the caller's
//! `X-Request-Id` when it is a sane token, a fresh UUID otherwise, echoed on the response.
//! The span also carries `checkout_trace_id`, recorded by the handlers that learn it (the
//! checkout, the webhook), so every line of one order can be found by either id.

use axum::{
    Router,
    extract::Request,
    http::{HeaderMap, HeaderValue},
};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub const HEADER: &str = "x-request-id";

/// Longest caller-given request id kept; longer ones are replaced.
const MAX_LEN: usize = 128;

/// Wraps `router` with the request id and the trace span (outermost, so that timeouts and
/// error bodies are traced and echo the id too).
pub fn layer<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::map_request(drop_unusable_id))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        tracing::info_span!(
                            "http_request",
                            method = %req.method(),
                            path = %req.uri().path(),
                            request_id = request_id(req.headers()).unwrap_or_default(),
                            checkout_trace_id = tracing::field::Empty,
                        )
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// The request's id (after [`layer`] set it).
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(HEADER).and_then(|v| v.to_str().ok())
}

/// Records the order's trace id on the request's span, for every line logged after.
pub fn record_checkout_trace_id(id: uuid::Uuid) {
    tracing::Span::current().record("checkout_trace_id", tracing::field::display(id));
}

/// A caller's id goes into every log line of the request: only visible ASCII without
/// quotes or backslashes, bounded, else it is replaced by a fresh one.
async fn drop_unusable_id(mut req: Request) -> Request {
    if req.headers().get(HEADER).is_some_and(|v| !usable(v)) {
        req.headers_mut().remove(HEADER);
    }
    req
}

fn usable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LEN
        && b.iter()
            .all(|c| c.is_ascii_graphic() && *c != b'"' && *c != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_id_is_kept_only_when_short_and_plain() {
        assert!(usable(&HeaderValue::from_static("req-42_ab.c")));
        assert!(!usable(&HeaderValue::from_static("")));
        assert!(!usable(&HeaderValue::from_static("a b")));
        assert!(!usable(&HeaderValue::from_static("a\"b")));
        assert!(!usable(&HeaderValue::from_str(&"x".repeat(129)).unwrap()));
    }
}
