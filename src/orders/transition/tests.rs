use super::{OrderStatus::*, PaymentEvent, next};
use PaymentEvent::{AsyncFailed, AsyncSucceeded, CompletedPaid, CompletedUnpaid, SessionRejected};

const ALL_EVENTS: [PaymentEvent; 15] = [
    CompletedPaid,
    CompletedUnpaid,
    AsyncSucceeded,
    AsyncFailed,
    PaymentEvent::Expired,
    SessionRejected,
    PaymentEvent::Refunded,
    PaymentEvent::DisputeOpened,
    PaymentEvent::DisputeWon,
    PaymentEvent::DisputeLost,
    PaymentEvent::Authorized,
    PaymentEvent::Captured,
    PaymentEvent::Released,
    PaymentEvent::Lapsed,
    PaymentEvent::NewPayLink,
];

#[test]
fn a_hold_is_captured_released_or_lapses_and_never_comes_back_late() {
    use PaymentEvent::{Authorized as Auth, Captured, Lapsed, NewPayLink, Released as Rel};
    assert_eq!(next(PendingPayment, Auth), Some(Authorized));
    assert_eq!(next(AwaitingPayment, Auth), Some(Authorized));
    assert_eq!(next(Authorized, Auth), None);
    assert_eq!(next(Authorized, Captured), Some(Paid));
    assert_eq!(next(Authorized, Rel), Some(Released));
    assert_eq!(next(Authorized, Lapsed), Some(AuthorizationExpired));
    // The session's own events leave a hold alone.
    for e in [CompletedUnpaid, PaymentEvent::Expired, AsyncFailed] {
        assert_eq!(next(Authorized, e), None, "{e:?}");
    }
    // Released and lapsed end the hold: a late authorization does not bring it back.
    assert_eq!(next(Released, Auth), None);
    assert_eq!(next(AuthorizationExpired, Auth), None);
    assert_eq!(next(AuthorizationExpired, Rel), None);
    // A lapse seen before the authorization still ends lapsed.
    assert_eq!(next(PendingPayment, Lapsed), Some(AuthorizationExpired));
    // Only a new payment link opens a lapsed order again; a captured one is paid.
    assert_eq!(next(AuthorizationExpired, NewPayLink), Some(PendingPayment));
    for s in [PendingPayment, Authorized, Paid, Released] {
        assert_eq!(next(s, NewPayLink), None, "{s:?}");
    }
    assert_eq!(next(Paid, Auth), None);
    assert_eq!(next(Paid, Lapsed), None);
    // An older API version's refund object for a cancelled hold moves nothing.
    for s in [Authorized, Released, AuthorizationExpired] {
        assert_eq!(next(s, PaymentEvent::Refunded), None, "{s:?}");
    }
}

#[test]
fn the_feed_tells_the_hold() {
    use super::told;
    use crate::events::Event;
    assert_eq!(
        told(PaymentEvent::Authorized, Authorized),
        Some(Event::OrderAuthorized)
    );
    assert_eq!(
        told(PaymentEvent::Captured, Paid),
        Some(Event::OrderCaptured)
    );
    assert_eq!(
        told(PaymentEvent::Released, Released),
        Some(Event::OrderReleased)
    );
    assert_eq!(
        told(PaymentEvent::Lapsed, AuthorizationExpired),
        Some(Event::OrderAuthorizationExpired)
    );
    assert_eq!(told(PaymentEvent::NewPayLink, PendingPayment), None);
}

#[test]
fn refunded_and_dispute_lost_are_terminal() {
    for terminal in [Refunded, DisputeLost] {
        for e in ALL_EVENTS {
            assert_eq!(next(terminal, e), None, "{terminal:?} on {e:?}");
        }
    }
}

#[test]
fn a_refund_seen_before_the_payment_still_ends_refunded() {
    let refunded = next(PendingPayment, PaymentEvent::Refunded);
    assert_eq!(refunded, Some(Refunded));
    assert_eq!(next(Refunded, CompletedPaid), None);
    assert_eq!(next(Refunded, AsyncSucceeded), None);
}

#[test]
fn a_dispute_holds_the_order_until_it_closes() {
    assert_eq!(next(Paid, PaymentEvent::DisputeOpened), Some(Disputed));
    for late in [
        CompletedPaid,
        AsyncSucceeded,
        PaymentEvent::Expired,
        AsyncFailed,
    ] {
        assert_eq!(next(Disputed, late), None);
    }
    assert_eq!(next(Disputed, PaymentEvent::DisputeWon), Some(Paid));
    assert_eq!(next(Disputed, PaymentEvent::DisputeLost), Some(DisputeLost));
    assert_eq!(next(Disputed, PaymentEvent::Refunded), Some(Refunded));
    // A close seen before its dispute's creation: the close decides.
    assert_eq!(next(Paid, PaymentEvent::DisputeWon), None);
    assert_eq!(next(Paid, PaymentEvent::DisputeLost), Some(DisputeLost));
    assert_eq!(next(PendingPayment, PaymentEvent::DisputeWon), Some(Paid));
}

#[test]
fn a_paid_order_is_never_downgraded_by_a_session_event() {
    // The session's events: the first six.
    for e in &ALL_EVENTS[..6] {
        assert_eq!(next(Paid, *e), None);
    }
}

#[test]
fn the_feed_tells_the_payment_the_full_refund_and_the_dispute_and_nothing_unpaid() {
    use super::told;
    use crate::events::{DisputeOutcome::*, Event};
    assert_eq!(told(CompletedPaid, Paid), Some(Event::OrderPaid));
    assert_eq!(told(AsyncSucceeded, Paid), Some(Event::OrderPaid));
    assert_eq!(
        told(PaymentEvent::Refunded, Refunded),
        Some(Event::OrderRefunded)
    );
    assert_eq!(
        told(PaymentEvent::DisputeOpened, Disputed),
        Some(Event::DisputeOpened)
    );
    let won = told(PaymentEvent::DisputeWon, Paid);
    assert_eq!(won, Some(Event::DisputeClosed(Won)));
    let lost = told(PaymentEvent::DisputeLost, DisputeLost);
    assert_eq!(lost, Some(Event::DisputeClosed(Lost)));
    for (event, to) in [
        (CompletedUnpaid, AwaitingPayment),
        (AsyncFailed, PaymentFailed),
        (PaymentEvent::Expired, Expired),
        (SessionRejected, Failed),
    ] {
        assert_eq!(told(event, to), None, "{event:?}");
    }
}

#[test]
fn the_documented_transitions_hold() {
    assert_eq!(next(PendingPayment, CompletedPaid), Some(Paid));
    assert_eq!(next(PendingPayment, CompletedUnpaid), Some(AwaitingPayment));
    assert_eq!(next(AwaitingPayment, AsyncSucceeded), Some(Paid));
    assert_eq!(next(AwaitingPayment, AsyncFailed), Some(PaymentFailed));
    assert_eq!(next(PendingPayment, PaymentEvent::Expired), Some(Expired));
    assert_eq!(next(AwaitingPayment, CompletedUnpaid), None);
    assert_eq!(next(Expired, PaymentEvent::Expired), None);
    assert_eq!(next(PendingPayment, SessionRejected), Some(Failed));
    assert_eq!(next(Expired, CompletedUnpaid), None);
}
