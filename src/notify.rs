//! Management notifications: a new paid order, a disputed payment, posted to a
//! Slack-compatible incoming webhook.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{orders::OrderId, queue::TaskError};

/// The JSON posted to `NOTIFY_WEBHOOK_URL`: `text` for Slack, the rest for machines.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OrderNotice {
    #[sqlx(skip)]
    pub text: String,
    pub order_id: OrderId,
    /// The order's status as the notice was sent.
    pub status: String,
    #[serde(skip)]
    was_paid: bool,
    #[serde(skip)]
    disputed: bool,
    pub job_id: Option<Uuid>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub customer_email: String,
    pub service_address: Option<String>,
    /// Put on the task's span (the read that would fetch it alone is saved).
    #[serde(skip)]
    checkout_trace_id: Option<Uuid>,
}

#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    /// A Slack-style URL is its own credential: kept secret, and stripped from errors.
    url: Option<SecretString>,
}

impl Notifier {
    pub fn new(url: Option<SecretString>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("a reqwest client builds");
        Notifier { http, url }
    }

    /// Sends the notice for one paid order. Without a URL, logs it. A failure is retryable:
    /// the outbox task comes back with backoff, and never touches the webhook's answer. An
    /// order no longer paid by the time this runs (refunded, say) was paid all the same: the
    /// notice goes, saying what it is now. The order's `checkout_trace_id` is recorded on
    /// `task` (the task's span) as the order is read.
    #[tracing::instrument(skip_all, fields(order_id = %order_id))]
    pub async fn paid_order(
        &self,
        pool: &PgPool,
        order_id: &OrderId,
        task: &tracing::Span,
    ) -> Result<(), TaskError> {
        let mut notice = self.notice(pool, order_id, task, |n| n.was_paid).await?;
        notice.text = format!(
            "New paid order {} — {} — {}{}",
            notice.order_id,
            amount(&notice),
            notice
                .service_address
                .as_deref()
                .unwrap_or("no service address"),
            match notice.status.as_str() {
                "paid" => String::new(),
                other => format!(" (now {other})"),
            },
        );
        self.post(&notice, "paid order").await
    }

    /// Sends the notice for a disputed payment: the job is on hold, evidence is due.
    #[tracing::instrument(skip_all, fields(order_id = %order_id))]
    pub async fn dispute(
        &self,
        pool: &PgPool,
        order_id: &OrderId,
        task: &tracing::Span,
    ) -> Result<(), TaskError> {
        let mut notice = self.notice(pool, order_id, task, |n| n.disputed).await?;
        notice.text = format!(
            "Payment disputed for order {} — {} — job on hold; respond in the Stripe dashboard \
             (order now {})",
            notice.order_id,
            amount(&notice),
            notice.status,
        );
        self.post(&notice, "dispute").await
    }

    /// The order's notice, if `applies` to it (else a permanent error: nothing to tell); its
    /// `checkout_trace_id` recorded on `task` either way.
    async fn notice(
        &self,
        pool: &PgPool,
        order_id: &OrderId,
        task: &tracing::Span,
        applies: fn(&OrderNotice) -> bool,
    ) -> Result<OrderNotice, TaskError> {
        let notice: Option<OrderNotice> = sqlx::query_as(
            r#"
            SELECT order_id, status, dispatch_job_id AS job_id, amount_total, currency,
                   customer_email, metadata_json->>'service_address' AS service_address,
                   paid_at IS NOT NULL AS was_paid,
                   EXISTS (SELECT 1 FROM h2s_disputes d WHERE d.order_id = o.order_id) AS disputed,
                   checkout_trace_id
            FROM h2s_orders o WHERE order_id = $1
            "#,
        )
        .bind(order_id)
        .fetch_optional(pool)
        .await?;
        if let Some(id) = notice.as_ref().and_then(|n| n.checkout_trace_id) {
            task.record("checkout_trace_id", tracing::field::display(id));
        }
        notice
            .filter(applies)
            .ok_or_else(|| TaskError::permanent(format!("order {order_id}: nothing to notify")))
    }

    async fn post(&self, notice: &OrderNotice, what: &str) -> Result<(), TaskError> {
        let Some(url) = &self.url else {
            tracing::info!(text = %notice.text, "{what} notification (no NOTIFY_WEBHOOK_URL set)");
            return Ok(());
        };
        let response = self
            .http
            .post(url.expose_secret())
            .json(notice)
            .send()
            .await
            .map_err(|e| {
                // The URL is a secret: neither the reason nor the kept error carries it.
                let e = e.without_url();
                TaskError::Retryable {
                    reason: format!("notification endpoint unreachable: {e}"),
                    retry_after: None,
                    source: Some(Box::new(e)),
                }
            })?;
        if response.status().is_success() {
            tracing::info!("{what} notification sent");
            Ok(())
        } else {
            Err(TaskError::retryable(
                format!("notification endpoint answered {}", response.status()),
                None,
            ))
        }
    }
}

fn amount(notice: &OrderNotice) -> String {
    match (notice.amount_total, &notice.currency) {
        (Some(a), Some(c)) => format!("{}.{:02} {}", a / 100, a % 100, c.to_uppercase()),
        _ => "amount unknown".into(),
    }
}
