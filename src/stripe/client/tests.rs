use super::{
    answer::error_parts,
    error::{Blame, StripeCallError},
};

fn api(status: u16, kind: &str, param: Option<&str>) -> StripeCallError {
    StripeCallError::Api {
        status,
        code: kind.into(),
        kind: kind.into(),
        param: param.map(Into::into),
        message: "m".into(),
        retry_after: None,
        should_retry: None,
    }
}

#[tokio::test]
async fn only_a_400_naming_a_parameter_is_the_orders_fault() {
    // A connection refused: nothing listens on port 1.
    let refused = reqwest::get("http://127.0.0.1:1/").await.unwrap_err();
    let param = Some("line_items[0][price]");
    assert_eq!(
        api(400, "invalid_request_error", param).blame(),
        Blame::Order
    );
    assert_eq!(
        api(400, "idempotency_error", None).blame(),
        Blame::IdempotencyKey
    );
    for not_the_order in [
        api(401, "invalid_request_error", None),
        api(403, "invalid_request_error", None),
        api(429, "invalid_request_error", None),
        api(500, "api_error", None),
        api(503, "api_error", None),
        api(400, "invalid_request_error", None),
        api(404, "invalid_request_error", param),
        StripeCallError::Timeout,
        StripeCallError::Transport(refused),
    ] {
        assert_eq!(not_the_order.blame(), Blame::Outage, "{not_the_order}");
        assert!(not_the_order.is_retryable());
    }
}

#[test]
fn stripe_error_bodies_give_their_type_and_parameter() {
    let parts = error_parts(
        br#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"line_items[0][price]","message":"No such price"}}"#,
    );
    assert_eq!(parts.kind, "invalid_request_error");
    assert_eq!(parts.code, "resource_missing");
    assert_eq!(parts.param.as_deref(), Some("line_items[0][price]"));
    let parts = error_parts(br#"{"error":{"type":"idempotency_error","message":"x"}}"#);
    assert_eq!(
        (parts.kind.as_str(), parts.code.as_str()),
        ("idempotency_error", "idempotency_error")
    );
    assert_eq!(parts.param, None);
}
