//! Issue 25's steps: endpoints subscribed through the admin API, and the events and
//! deliveries the database holds afterwards.

use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, Options, TestApp, spawn_app_with},
    refund_steps::{Answer, read},
};

/// An event as recorded: its type, `sequence`, and body (parsed from the stored text).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event_id: String,
    pub kind: String,
    pub sequence: i64,
    pub body: Value,
}

impl Recorded {
    pub fn data(&self, field: &str) -> &Value {
        &self.body["data"][field]
    }
}

/// The app with private endpoints allowed (receivers on 127.0.0.1).
pub async fn spawn_feed_app() -> TestApp {
    spawn_app_with(Options {
        event_endpoints_allow_private: true,
        ..Options::default()
    })
    .await
}

impl TestApp {
    fn endpoints_url(&self, tail: &str) -> String {
        format!("{}/api/admin/event-endpoints{tail}", self.base_url)
    }

    /// `POST /api/admin/event-endpoints` with `body`.
    pub async fn create_endpoint(&self, body: &Value) -> Answer {
        let request = self.http.post(self.endpoints_url("")).json(body);
        read(request.bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await
    }

    /// An endpoint on a local URL wanting `types` (`None`: all); its id.
    pub async fn subscribe(&self, types: Option<&[&str]>) -> String {
        let mut body = json!({"url": "http://127.0.0.1:9/hooks"});
        if let Some(types) = types {
            body["event_types"] = json!(types);
        }
        let answer = self.create_endpoint(&body).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// `PATCH /api/admin/event-endpoints/{id}` with `body`.
    pub async fn patch_endpoint(&self, id: &str, body: &Value) -> Answer {
        let request = self.http.patch(self.endpoints_url(&format!("/{id}")));
        let request = request.bearer_auth(ADMIN_TOKEN).json(body);
        read(request.send().await.unwrap()).await
    }

    /// `DELETE /api/admin/event-endpoints/{id}`.
    pub async fn delete_endpoint(&self, id: &str) -> Answer {
        let request = self.http.delete(self.endpoints_url(&format!("/{id}")));
        read(request.bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await
    }

    /// `POST /api/admin/event-endpoints/{id}/rotate-secret`.
    pub async fn rotate_endpoint_secret(&self, id: &str) -> Answer {
        let url = self.endpoints_url(&format!("/{id}/rotate-secret"));
        read(
            self.http
                .post(url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `GET /api/admin/event-endpoints`: the body.
    pub async fn list_endpoints(&self) -> Value {
        self.admin_get(self.endpoints_url("")).await
    }

    /// The order's events, by `sequence`.
    pub async fn events_of(&self, order_id: &str) -> Vec<Recorded> {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT event_id, event_type, sequence, body FROM h2s_events
             WHERE order_id = $1 ORDER BY sequence",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(event_id, kind, sequence, body)| Recorded {
                event_id,
                kind,
                sequence,
                body: serde_json::from_str(&body).expect("a stored body is JSON"),
            })
            .collect()
    }

    /// The types of the order's events, by `sequence`.
    pub async fn event_types_of(&self, order_id: &str) -> Vec<String> {
        let events = self.events_of(order_id).await;
        events.into_iter().map(|e| e.kind).collect()
    }

    /// How many deliveries the endpoint has, of the order's events.
    pub async fn deliveries_to(&self, endpoint_id: &str, order_id: &str) -> i64 {
        self.count(&format!(
            "h2s_event_deliveries d JOIN h2s_events e USING (event_id)
             WHERE d.endpoint_id = '{endpoint_id}' AND e.order_id = '{order_id}'"
        ))
        .await
    }
}

/// The body's own shape holds: its `type` is the row's, its `sequence` the row's, and the
/// order it names the order.
pub fn assert_consistent(events: &[Recorded], order_id: &str) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.body["type"], event.kind.as_str());
        assert_eq!(event.data("sequence"), event.sequence);
        assert_eq!(event.data("order_id"), order_id);
        assert_eq!(
            event.sequence,
            i as i64 + 1,
            "sequences start at 1, no gaps"
        );
        let id = event.event_id.strip_prefix("msg_").expect("msg_ id");
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(event.body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
