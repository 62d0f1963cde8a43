use super::{Decision, OrderMoney, Refusal, decide};
use crate::{dispatch::JobStatus, orders::OrderStatus, refunds::NewRefund, stored::Stored};

fn paid(refunded: i64, in_flight: i64) -> OrderMoney {
    OrderMoney {
        status: Stored::Known(OrderStatus::Paid),
        amount_charged: Some(10_000),
        amount_refunded: refunded,
        in_flight,
        payment_intent: Some("pi_1".into()),
    }
}

fn refund(amount: Option<i64>, cancel_job: bool, override_dispatched: bool) -> NewRefund {
    NewRefund {
        amount,
        reason: "customer called".into(),
        cancel_job,
        override_dispatched,
    }
}

fn job(status: JobStatus) -> Stored<JobStatus> {
    Stored::Known(status)
}

#[test]
fn more_than_remains_is_refused_counting_requests_in_flight() {
    let ready = job(JobStatus::Ready);
    let ask = refund(Some(5_000), false, false);
    assert_eq!(
        decide(&paid(2_000, 4_000), Some(&ready), &ask),
        Err(Refusal::TooMuch { remaining: 4_000 })
    );
    let fits = decide(&paid(2_000, 3_000), Some(&ready), &ask).unwrap();
    assert_eq!(fits.amount, 5_000);
    assert!(fits.cancel_job, "the last of the money calls the visit off");
    let nothing_left = decide(&paid(0, 10_000), Some(&ready), &refund(None, false, false));
    assert_eq!(nothing_left, Err(Refusal::TooMuch { remaining: 0 }));
}

#[test]
fn an_order_never_paid_or_disputed_is_refused() {
    let mut order = paid(0, 0);
    order.status = Stored::Known(OrderStatus::PendingPayment);
    let ask = refund(None, false, false);
    assert!(matches!(
        decide(&order, None, &ask),
        Err(Refusal::NotPaid(_))
    ));
    order.status = Stored::Other("legacy_open".into());
    assert!(matches!(
        decide(&order, None, &ask),
        Err(Refusal::NotPaid(_))
    ));
    order.status = Stored::Known(OrderStatus::Disputed);
    assert_eq!(decide(&order, None, &ask), Err(Refusal::Disputed));
}

#[test]
fn a_scheduled_job_is_called_off_only_with_the_override() {
    let scheduled = job(JobStatus::Scheduled);
    let full = decide(&paid(0, 0), Some(&scheduled), &refund(None, false, false));
    assert_eq!(full, Err(Refusal::JobScheduled));
    let cancel = decide(
        &paid(0, 0),
        Some(&scheduled),
        &refund(Some(100), true, false),
    );
    assert_eq!(cancel, Err(Refusal::JobScheduled));
    let partial = decide(
        &paid(0, 0),
        Some(&scheduled),
        &refund(Some(100), false, false),
    );
    assert_eq!(
        partial,
        Ok(Decision {
            amount: 100,
            cancel_job: false,
            alert_completed: false
        })
    );
    let overridden = decide(&paid(0, 0), Some(&scheduled), &refund(None, false, true)).unwrap();
    assert!(overridden.cancel_job);
}

#[test]
fn a_completed_job_is_refunded_with_an_alert_and_never_cancelled() {
    let completed = job(JobStatus::Completed);
    let full = decide(&paid(0, 0), Some(&completed), &refund(None, false, false)).unwrap();
    assert_eq!(
        full,
        Decision {
            amount: 10_000,
            cancel_job: false,
            alert_completed: true
        }
    );
    let cancel = decide(&paid(0, 0), Some(&completed), &refund(None, true, true));
    assert_eq!(cancel, Err(Refusal::JobCompleted));
}
