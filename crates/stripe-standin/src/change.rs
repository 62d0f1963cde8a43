//! The session transitions Stripe makes, shared by the API, the pay page and the test handle.
//! Each refuses a transition Stripe would not make.

use serde_json::{Value, json};

use crate::objects::random_id;

/// How a completed session was paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "paid",
            PaymentStatus::Unpaid => "unpaid",
            PaymentStatus::NoPaymentRequired => "no_payment_required",
        }
    }
}

fn require_status(session: &Value, wanted: &str) -> Result<(), String> {
    let status = session["status"].as_str().unwrap_or_default();
    if status == wanted {
        Ok(())
    } else {
        Err(format!(
            "This Checkout Session is {status}; it must be {wanted}."
        ))
    }
}

pub(crate) fn complete(session: &mut Value, payment_status: &str) -> Result<(), String> {
    require_status(session, "open")?;
    session["status"] = json!("complete");
    session["payment_status"] = json!(payment_status);
    session["url"] = Value::Null;
    if session["mode"] == "payment" {
        session["payment_intent"] = json!(random_id("pi_", 24));
    }
    Ok(())
}

pub(crate) fn expire(session: &mut Value) -> Result<(), String> {
    require_status(session, "open")?;
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    Ok(())
}

pub(crate) fn async_payment(session: &mut Value, succeeded: bool) -> Result<(), String> {
    require_status(session, "complete")?;
    session["payment_status"] = json!(if succeeded { "paid" } else { "unpaid" });
    Ok(())
}
