use super::{job_move, new_job};
use crate::{
    dispatch::JobStatus as J,
    events::{CancelReason, Event},
    orders::OrderStatus as O,
};

#[test]
fn a_lifted_hold_is_a_release_whether_the_job_was_ready_or_scheduled() {
    let won = Some(O::Paid);
    assert_eq!(job_move(J::OnHold, J::Ready, won), Some(Event::JobReleased));
    assert_eq!(
        job_move(J::OnHold, J::Scheduled, won),
        Some(Event::JobReleased)
    );
}

#[test]
fn a_job_made_ready_is_job_ready_whatever_it_was_before() {
    for from in [J::AwaitingPayment, J::Cancelled] {
        assert_eq!(
            job_move(from, J::Ready, Some(O::Paid)),
            Some(Event::JobReady)
        );
    }
}

#[test]
fn the_dispatchers_moves_are_told_as_they_are() {
    assert_eq!(
        job_move(J::Ready, J::Scheduled, None),
        Some(Event::JobScheduled)
    );
    assert_eq!(
        job_move(J::Scheduled, J::Scheduled, None),
        Some(Event::JobScheduled)
    );
    assert_eq!(
        job_move(J::Scheduled, J::Completed, None),
        Some(Event::JobCompleted)
    );
    assert_eq!(
        job_move(J::Scheduled, J::Cancelled, None),
        Some(Event::JobCancelled(CancelReason::Operator))
    );
}

#[test]
fn a_cancellation_by_payment_names_the_payments_fate() {
    let cases = [
        (O::Refunded, CancelReason::Refunded),
        (O::DisputeLost, CancelReason::DisputeLost),
        (O::Expired, CancelReason::Expired),
        (O::PaymentFailed, CancelReason::PaymentFailed),
        (O::Failed, CancelReason::PaymentFailed),
    ];
    for (status, reason) in cases {
        assert_eq!(
            job_move(J::Ready, J::Cancelled, Some(status)),
            Some(Event::JobCancelled(reason)),
            "{status:?}"
        );
    }
    let told = job_move(J::AwaitingPayment, J::Cancelled, Some(O::Expired));
    assert_eq!(told.and_then(Event::reason), Some("expired"));
}

#[test]
fn a_hold_is_on_hold_and_a_move_back_to_awaiting_payment_is_not_told() {
    assert_eq!(
        job_move(J::Scheduled, J::OnHold, Some(O::Disputed)),
        Some(Event::JobOnHold)
    );
    assert_eq!(
        job_move(J::Ready, J::AwaitingPayment, Some(O::AwaitingPayment)),
        None
    );
}

#[test]
fn a_new_job_is_told_only_once_its_order_holds_the_money() {
    assert_eq!(new_job(J::Ready), Some(Event::JobReady));
    assert_eq!(new_job(J::OnHold), Some(Event::JobOnHold));
    assert_eq!(new_job(J::AwaitingPayment), None);
    assert_eq!(new_job(J::Cancelled), None);
}
