//! An operator's endpoint as the admin API reads it, parsed at the edge: the URL, and the
//! event types it wants (every one named must exist).

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::events::EventType;

/// Longest endpoint URL, in characters.
pub const URL_MAX: usize = 2048;

/// `POST /api/admin/event-endpoints`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub url: String,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
}

/// `PATCH /api/admin/event-endpoints/{id}`, as sent: `event_types` left out keeps them,
/// `null` subscribes to every type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPatch {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub event_types: Option<Option<Vec<String>>>,
}

/// A field that is present (`null` included) is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Why the input is refused: the field, and a message for the API answer.
pub type Invalid = (&'static str, String);

/// The types an endpoint wants; `None`: every type, those added later included.
pub type Wanted = Option<Vec<EventType>>;

/// The URL as given: absolute, at most [`URL_MAX`] characters, with no credentials in it (the
/// signing secret proves the sender; the list shows URLs) and no fragment. Where it may
/// point is the address policy's to say.
pub fn url(text: &str) -> Result<Url, Invalid> {
    let invalid = |message: &str| ("url", message.to_owned());
    if text.chars().count() > URL_MAX {
        return Err(invalid("at most 2048 characters"));
    }
    let url = Url::parse(text.trim()).map_err(|_| invalid("not an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the URL are not accepted"));
    }
    if url.fragment().is_some() {
        return Err(invalid("a fragment is not accepted"));
    }
    Ok(url)
}

/// The types named, each known, without repeats; `None` stays every type. An empty list is
/// refused: it would want nothing.
pub fn event_types(names: Option<Vec<String>>) -> Result<Wanted, Invalid> {
    let Some(names) = names else { return Ok(None) };
    if names.is_empty() {
        return Err((
            "event_types",
            "name at least one type, or leave the field out for all".into(),
        ));
    }
    let mut types = Vec::with_capacity(names.len());
    for name in &names {
        let kind = EventType::parse(name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            (
                "event_types",
                format!("unknown event type {name:?}; known: {}", known.join(", ")),
            )
        })?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    Ok(Some(types))
}

/// A change to an endpoint, parsed; at least one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub enabled: Option<bool>,
    /// `Some(None)`: every type from now on.
    pub event_types: Option<Wanted>,
}

impl Patch {
    pub fn parse(raw: RawPatch) -> Result<Self, Invalid> {
        if raw.enabled.is_none() && raw.event_types.is_none() {
            return Err(("enabled", "name enabled or event_types to change".into()));
        }
        Ok(Patch {
            enabled: raw.enabled,
            event_types: raw.event_types.map(event_types).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests;
