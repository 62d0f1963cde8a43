use chrono::Utc;

use super::{JobEvent, JobNow, Refused, next};
use crate::{dispatch::JobStatus as J, orders::OrderStatus};

fn job(status: J) -> JobNow {
    JobNow {
        status,
        held_from: None,
        operator_cancelled: false,
    }
}

fn visit() -> super::Visit {
    super::Visit {
        window_start: Utc::now(),
        window_end: Utc::now(),
        technician: "tech-7".into(),
    }
}

#[test]
fn the_dispatcher_schedules_a_ready_job_completes_a_scheduled_one_and_cancels_an_open_one() {
    let v = visit();
    assert_eq!(
        next(job(J::Ready), &JobEvent::Schedule(&v)),
        Ok(Some(J::Scheduled))
    );
    assert_eq!(
        next(job(J::Scheduled), &JobEvent::Schedule(&v)),
        Ok(Some(J::Scheduled))
    );
    assert_eq!(
        next(job(J::Scheduled), &JobEvent::Complete),
        Ok(Some(J::Completed))
    );
    assert_eq!(next(job(J::Completed), &JobEvent::Complete), Ok(None));
    let cancel = JobEvent::Cancel {
        reason: "customer called",
    };
    for open in [J::AwaitingPayment, J::Ready, J::Scheduled] {
        assert_eq!(next(job(open), &cancel), Ok(Some(J::Cancelled)));
    }
    assert_eq!(next(job(J::Cancelled), &cancel), Ok(None));
}

#[test]
fn impossible_moves_are_refused() {
    let v = visit();
    let cancel = JobEvent::Cancel { reason: "x" };
    assert_eq!(next(job(J::Completed), &cancel), Err(Refused::Completed));
    assert_eq!(
        next(job(J::OnHold), &JobEvent::Schedule(&v)),
        Err(Refused::OnHold)
    );
    assert_eq!(next(job(J::OnHold), &cancel), Err(Refused::OnHold));
    assert_eq!(
        next(job(J::AwaitingPayment), &JobEvent::Schedule(&v)),
        Err(Refused::NotPaid)
    );
    assert_eq!(
        next(job(J::Ready), &JobEvent::Complete),
        Err(Refused::NotScheduled)
    );
    assert_eq!(
        next(job(J::Cancelled), &JobEvent::Schedule(&v)),
        Err(Refused::Cancelled)
    );
    assert_eq!(
        next(job(J::Completed), &JobEvent::Schedule(&v)),
        Err(Refused::Completed)
    );
}

#[test]
fn payments_move_jobs_as_before_and_never_revive_an_operators_cancellation() {
    let pay = |status| JobEvent::Payment(status);
    assert_eq!(
        next(job(J::AwaitingPayment), &pay(OrderStatus::Paid)),
        Ok(Some(J::Ready))
    );
    assert_eq!(
        next(job(J::Cancelled), &pay(OrderStatus::Paid)),
        Ok(Some(J::Ready))
    );
    assert_eq!(
        next(job(J::Scheduled), &pay(OrderStatus::Refunded)),
        Ok(None)
    );
    assert_eq!(
        next(job(J::Completed), &pay(OrderStatus::Disputed)),
        Ok(None)
    );
    assert_eq!(
        next(job(J::Scheduled), &pay(OrderStatus::Disputed)),
        Ok(Some(J::OnHold))
    );
    let held = JobNow {
        held_from: Some(J::Scheduled),
        ..job(J::OnHold)
    };
    assert_eq!(next(held, &pay(OrderStatus::Paid)), Ok(Some(J::Scheduled)));
    assert_eq!(
        next(job(J::OnHold), &pay(OrderStatus::Paid)),
        Ok(Some(J::Ready))
    );
    let by_operator = JobNow {
        operator_cancelled: true,
        ..job(J::Cancelled)
    };
    assert_eq!(next(by_operator, &pay(OrderStatus::Paid)), Ok(None));
    assert_eq!(next(by_operator, &pay(OrderStatus::Disputed)), Ok(None));
}
