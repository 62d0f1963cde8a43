//! Stripe's error answers: the HTTP status and the `{"error": {...}}` body, with the codes and
//! messages Stripe uses, so that async-stripe parses them as it would Stripe's.

use serde_json::json;

/// A Stripe error answer: HTTP status plus the `{"error": {...}}` body.
#[derive(Clone, Debug)]
pub(crate) struct StripeError {
    pub status: u16,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    /// The PaymentIntent, on an error about one (Stripe's `error.payment_intent`).
    pub payment_intent: Option<serde_json::Value>,
}

impl StripeError {
    pub fn invalid(code: &'static str, message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            status: 400,
            kind: "invalid_request_error",
            code: Some(code),
            message: message.into(),
            param,
            payment_intent: None,
        }
    }

    pub fn resource_missing(what: &str, id: &str, param: &str) -> Self {
        let mut err = Self::invalid(
            "resource_missing",
            format!("No such {what}: '{id}'"),
            Some(param.into()),
        );
        if what != "price" {
            err.status = 404;
        }
        err
    }

    pub fn parameter_missing(param: &str) -> Self {
        Self::invalid(
            "parameter_missing",
            format!("Missing required param: {param}."),
            Some(param.into()),
        )
    }

    pub fn unauthorized() -> Self {
        Self {
            status: 401,
            kind: "invalid_request_error",
            code: None,
            message: "You did not provide an API key. You need to provide your API key in the \
                      Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
            param: None,
            payment_intent: None,
        }
    }

    pub fn idempotency(key: &str) -> Self {
        Self {
            status: 400,
            kind: "idempotency_error",
            code: None,
            message: format!(
                "Keys for idempotent requests can only be used with the same parameters they were first \
                 used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
            param: None,
            payment_intent: None,
        }
    }

    /// The answer to an injected fault of this status.
    pub fn fault(status: u16) -> Self {
        match status {
            429 => Self {
                status,
                kind: "invalid_request_error",
                code: Some("rate_limit"),
                message: "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.".into(),
                param: None,
                payment_intent: None,
            },
            401 => Self {
                status,
                kind: "invalid_request_error",
                code: None,
                message: "Invalid API Key provided: sk_test_********************xxxx".into(),
                param: None,
                payment_intent: None,
            },
            400..=499 => Self {
                status,
                kind: "invalid_request_error",
                code: None,
                message: format!("Injected fault: {status}."),
                param: None,
                payment_intent: None,
            },
            _ => Self {
                status,
                kind: "api_error",
                code: None,
                message: "Sorry, something went wrong. We've already been notified of the problem.".into(),
                param: None,
                payment_intent: None,
            },
        }
    }

    pub fn body(&self) -> String {
        let mut error = json!({"type": self.kind, "message": self.message});
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        if let Some(payment_intent) = &self.payment_intent {
            error["payment_intent"] = payment_intent.clone();
        }
        json!({ "error": error }).to_string()
    }
}
