//! The bodies of the event feed's endpoint routes (issue 25), as the handlers read and
//! serialize them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::events::endpoints::EndpointView;

/// `POST /api/admin/event-endpoints`. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EndpointBody {
    /// https, on a public address (plain http and private addresses only with
    /// `--event-endpoints-allow-private`); no credentials, no fragment.
    #[schema(min_length = 1, max_length = 2048, format = "uri")]
    url: String,
    /// The types wanted (`job.ready`, `job.on_hold`, `job.released`, `job.cancelled`,
    /// `job.scheduled`, `job.completed`, `order.paid`, `order.refunded`,
    /// `order.partially_refunded`, `dispute.opened`, `dispute.closed`); left out: every
    /// type, those added later included.
    #[schema(schema_with = event_types)]
    event_types: Option<Vec<String>>,
}

/// At least one known event type (repeats count once).
fn event_types() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let names = crate::events::EventType::ALL.iter().map(|t| t.as_str());
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .min_items(Some(1))
        .build()
}

/// As [`event_types`], or `null`: every type.
fn event_types_or_null() -> utoipa::openapi::schema::Array {
    let mut schema = event_types();
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([
        utoipa::openapi::schema::Type::Array,
        utoipa::openapi::schema::Type::Null,
    ]);
    schema
}

/// `PATCH /api/admin/event-endpoints/{id}`: at least one field. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EndpointPatch {
    /// Disabling stops deliveries; enabling forgets past failures.
    #[schema(nullable = false)]
    enabled: Option<bool>,
    /// The types wanted; `null`: every type. Left out: unchanged.
    #[schema(schema_with = event_types_or_null)]
    event_types: Option<Vec<String>>,
}

/// `201`: the endpoint, and its signing secret (shown here only).
#[derive(Serialize, ToSchema)]
pub struct EndpointCreated {
    pub ok: bool,
    pub id: Uuid,
    pub url: String,
    /// `null`: every type.
    pub event_types: Option<Vec<String>>,
    /// `whsec_` + base64 of 32 random bytes: verify deliveries with it.
    pub secret: String,
    pub enabled: bool,
}

/// `GET /api/admin/event-endpoints`: oldest first, no secrets.
#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub ok: bool,
    pub endpoints: Vec<EndpointView>,
}

/// `PATCH /api/admin/event-endpoints/{id}`: the endpoint as it is now.
#[derive(Serialize, ToSchema)]
pub struct EndpointUpdated {
    pub ok: bool,
    pub endpoint: EndpointView,
}

/// `POST /api/admin/event-endpoints/{id}/rotate-secret`.
#[derive(Serialize, ToSchema)]
pub struct SecretRotated {
    pub ok: bool,
    pub id: Uuid,
    /// The new secret (shown here only); deliveries carry a signature under each valid one.
    pub secret: String,
    /// Until when the previous secret still signs (24 h from now).
    pub previous_secret_until: DateTime<Utc>,
}
