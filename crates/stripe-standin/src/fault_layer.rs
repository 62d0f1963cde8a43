//! The layer every `/v1` call goes through: call accounting, scripted then random faults,
//! latency, and the API key check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::error::StripeError;
use crate::faults::Fault;
use crate::objects::random_id;
use crate::state::Shared;

/// What the fault layer decided for one call.
enum Decision {
    Proceed {
        hang: Option<Duration>,
        latency: Duration,
    },
    Answer(Response),
    Drop,
}

impl Shared {
    /// Accounts for one API call and draws its fault, all under one lock.
    fn decide(&self, is_create: bool, endpoint: String) -> Decision {
        let now = Instant::now();
        let mut inner = self.lock();
        if is_create {
            inner.create_calls += 1;
        }
        *inner.calls.entry(endpoint).or_default() += 1;
        inner.note_call(now);
        let latency = inner.latency;
        if let Some(fault) = inner.scripted.pop_front() {
            return match fault {
                Fault::Status(status) => {
                    Decision::Answer(error_response(&StripeError::fault(status)))
                }
                Fault::RateLimited { retry_after_secs } => {
                    inner.rate_limited += 1;
                    let mut response = error_response(&StripeError::fault(429));
                    if let Some(secs) = retry_after_secs {
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    }
                    Decision::Answer(response)
                }
                Fault::Hang(d) => Decision::Proceed {
                    hang: Some(d),
                    latency,
                },
                Fault::Drop => Decision::Drop,
                Fault::IdempotencyError => Decision::Answer(error_response(
                    &StripeError::idempotency("(scripted fault)"),
                )),
            };
        }
        let faults = inner.faults.clone();
        if let Some(limit) = faults.rate_limit_per_sec
            && !inner.admit(now, limit)
        {
            inner.rate_limited += 1;
            return Decision::Answer(error_response(&StripeError::fault(429)));
        }
        let mut rng = rand::rng();
        if faults.error_rate > 0.0 && rng.random::<f64>() < faults.error_rate {
            let status = if faults.error_status == 0 {
                500
            } else {
                faults.error_status
            };
            return Decision::Answer(error_response(&StripeError::fault(status)));
        }
        let hang = (faults.hang_rate > 0.0 && rng.random::<f64>() < faults.hang_rate)
            .then_some(faults.hang_for);
        Decision::Proceed { hang, latency }
    }
}

pub(crate) async fn fault_layer(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let is_create =
        request.method() == Method::POST && request.uri().path() == "/v1/checkout/sessions";
    // Counted per route (`GET /v1/checkout/sessions/{id}`), not per id.
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let endpoint = format!("{} {route}", request.method());
    let mut response = match shared.decide(is_create, endpoint) {
        Decision::Answer(response) => response,
        // Unwinding out of the handler ends the connection's task, so hyper drops the socket
        // without writing a response: what a client sees when Stripe's edge resets it.
        // `resume_unwind` skips the panic hook, so nothing is printed.
        Decision::Drop => std::panic::resume_unwind(Box::new("stand-in: dropped connection")),
        Decision::Proceed { hang, latency } => {
            for pause in [hang.unwrap_or_default(), latency] {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            if authorized(&request) {
                next.run(request).await
            } else {
                error_response(&StripeError::unauthorized())
            }
        }
    };
    if let Ok(id) = HeaderValue::from_str(&random_id("req_", 14)) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

/// Any non-empty bearer key passes, as with a valid test key.
fn authorized(request: &Request) -> bool {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty())
}

pub(crate) fn error_response(err: &StripeError) -> Response {
    let status = axum::http::StatusCode::from_u16(err.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        err.body(),
    )
        .into_response()
}
