use super::{Patch, RawPatch, event_types, url};
use crate::events::EventType;

#[test]
fn unknown_and_empty_type_lists_are_refused_and_repeats_dropped() {
    let unknown = event_types(Some(vec!["job.ready".into(), "job.teleported".into()]));
    let (field, message) = unknown.unwrap_err();
    assert_eq!(field, "event_types");
    assert!(message.contains("job.teleported"), "{message}");
    assert!(event_types(Some(vec![])).is_err());
    let repeated = event_types(Some(vec!["order.paid".into(), "order.paid".into()]));
    assert_eq!(repeated.unwrap(), Some(vec![EventType::OrderPaid]));
    assert_eq!(event_types(None).unwrap(), None);
}

#[test]
fn urls_with_credentials_fragments_or_no_scheme_are_refused() {
    for bad in [
        "https://user:pw@example.com/hooks",
        "https://example.com/hooks#frag",
        "example.com/hooks",
        "/hooks",
    ] {
        assert!(url(bad).is_err(), "{bad}");
    }
    let long = format!("https://example.com/{}", "a".repeat(2100));
    assert!(url(&long).is_err());
    assert_eq!(
        url("https://example.com/hooks?x=1").unwrap().as_str(),
        "https://example.com/hooks?x=1"
    );
}

fn patch(json: &str) -> Result<Patch, super::Invalid> {
    Patch::parse(serde_json::from_str::<RawPatch>(json).unwrap())
}

#[test]
fn a_patch_tells_apart_a_missing_field_from_a_null_one() {
    assert_eq!(patch(r#"{"enabled": false}"#).unwrap().event_types, None);
    assert_eq!(
        patch(r#"{"event_types": null}"#).unwrap().event_types,
        Some(None)
    );
    let some = patch(r#"{"event_types": ["job.ready"]}"#).unwrap();
    assert_eq!(some.event_types, Some(Some(vec![EventType::JobReady])));
    assert!(patch("{}").is_err());
    assert!(serde_json::from_str::<RawPatch>(r#"{"enabeld": true}"#).is_err());
}
