use super::{DisputeOutcome, Event, EventType};

#[test]
fn every_type_reads_back_from_its_name_and_no_other_name_is_a_type() {
    for kind in EventType::ALL {
        assert_eq!(EventType::parse(kind.as_str()), Some(kind));
    }
    for name in [
        "job.Ready",
        "job",
        "",
        "order.partially-refunded",
        "dispute.lost",
    ] {
        assert_eq!(EventType::parse(name), None, "{name}");
    }
}

#[test]
fn reason_and_outcome_belong_to_their_types_only() {
    let closed = Event::DisputeClosed(DisputeOutcome::Won);
    assert_eq!(closed.outcome(), Some("won"));
    assert_eq!(closed.reason(), None);
    assert_eq!(closed.event_type().as_str(), "dispute.closed");
    assert_eq!(Event::OrderPaid.reason(), None);
    assert_eq!(Event::OrderPaid.outcome(), None);
}
