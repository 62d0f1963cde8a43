//! Management notifications: a new paid order, posted to a Slack-compatible incoming webhook.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{orders::OrderId, outbox::TaskError};

/// The JSON posted to `NOTIFY_WEBHOOK_URL`: `text` for Slack, the rest for machines.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaidOrderNotice {
    #[sqlx(skip)]
    pub text: String,
    pub order_id: OrderId,
    pub job_id: Option<Uuid>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub customer_email: String,
    pub service_address: Option<String>,
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
    /// the outbox task comes back with backoff, and never touches the webhook's answer.
    #[tracing::instrument(skip_all, fields(order_id = %order_id))]
    pub async fn paid_order(&self, pool: &PgPool, order_id: &OrderId) -> Result<(), TaskError> {
        let notice: Option<PaidOrderNotice> = sqlx::query_as(
            r#"
            SELECT order_id, dispatch_job_id AS job_id, amount_total, currency, customer_email,
                   metadata_json->>'service_address' AS service_address
            FROM h2s_orders WHERE order_id = $1 AND status = 'paid'
            "#,
        )
        .bind(order_id)
        .fetch_optional(pool)
        .await?;
        let Some(mut notice) = notice else {
            return Err(TaskError::permanent(format!(
                "order {order_id} is not paid"
            )));
        };
        notice.text = format!(
            "New paid order {} — {} — {}",
            notice.order_id,
            match (notice.amount_total, &notice.currency) {
                (Some(a), Some(c)) => format!("{}.{:02} {}", a / 100, a % 100, c.to_uppercase()),
                _ => "amount unknown".into(),
            },
            notice
                .service_address
                .as_deref()
                .unwrap_or("no service address"),
        );
        let Some(url) = &self.url else {
            tracing::info!(text = %notice.text, "paid order notification (no NOTIFY_WEBHOOK_URL set)");
            return Ok(());
        };
        let response = self
            .http
            .post(url.expose_secret())
            .json(&notice)
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
            tracing::info!("paid order notification sent");
            Ok(())
        } else {
            Err(TaskError::retryable(
                format!("notification endpoint answered {}", response.status()),
                None,
            ))
        }
    }
}
