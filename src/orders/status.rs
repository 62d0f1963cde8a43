use serde::{Deserialize, Serialize};

/// The payment status of an order (`h2s_orders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    AwaitingPayment,
    Paid,
    PaymentFailed,
    Expired,
    Failed,
    /// Fully refunded (terminal): its job is cancelled unless already scheduled or done.
    Refunded,
    /// The customer's bank disputes the payment: the job is on hold until the dispute closes.
    Disputed,
    /// The dispute was lost and the money returned (terminal): the job is cancelled.
    DisputeLost,
    /// Paid by a hold (manual capture): the money is held on the card until the job is
    /// completed and captured; the job is `ready`.
    Authorized,
    /// The hold was released (the job cancelled, or the order refunded before a capture): no
    /// money moved; the job is cancelled.
    Released,
    /// The hold lapsed before a capture: the job is on hold until a new payment link is paid.
    AuthorizationExpired,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Expired => "expired",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Disputed => "disputed",
            OrderStatus::DisputeLost => "dispute_lost",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Released => "released",
            OrderStatus::AuthorizationExpired => "authorization_expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending_payment" => OrderStatus::PendingPayment,
            "awaiting_payment" => OrderStatus::AwaitingPayment,
            "paid" => OrderStatus::Paid,
            "payment_failed" => OrderStatus::PaymentFailed,
            "expired" => OrderStatus::Expired,
            "failed" => OrderStatus::Failed,
            "refunded" => OrderStatus::Refunded,
            "disputed" => OrderStatus::Disputed,
            "dispute_lost" => OrderStatus::DisputeLost,
            "authorized" => OrderStatus::Authorized,
            "released" => OrderStatus::Released,
            "authorization_expired" => OrderStatus::AuthorizationExpired,
            _ => return None,
        })
    }

    /// Not paid yet, and still payable.
    pub fn is_unpaid(self) -> bool {
        matches!(
            self,
            OrderStatus::PendingPayment | OrderStatus::AwaitingPayment
        )
    }

    /// The money is with the shop, or held for it on the card: the order has its one
    /// dispatch job (`ready` when paid or authorized, `on_hold` while disputed), created if
    /// missing.
    pub fn holds_money(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid | OrderStatus::Disputed | OrderStatus::Authorized
        )
    }
}

impl crate::stored::StatusText for OrderStatus {
    fn as_str(self) -> &'static str {
        OrderStatus::as_str(self)
    }

    fn parse(text: &str) -> Option<Self> {
        OrderStatus::parse(text)
    }
}
