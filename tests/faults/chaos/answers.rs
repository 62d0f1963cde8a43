//! Every answer and every process death, against the fault windows: while the database is
//! unreachable a 5xx is a 503 and nothing else; outside the windows of the faults that can
//! explain one (a database fault, or that api killed or stopped), no 5xx and no request left
//! unanswered; no 4xx a correct request should not get; and no process died unless the
//! nemesis killed it, or it refused to start while its database was unreachable.

use crate::chaos::{
    checker::Findings,
    history::{Death, Fault, Op},
};

/// After a database fault ends, processes serve again "within seconds" (SPEC): answers this
/// soon after are still judged as inside it.
const DB_GRACE_MS: u64 = 15_000;
/// After a process fault ends (restarted and healthy, or continued).
const PROC_GRACE_MS: u64 = 5_000;

fn overlaps(op: &Op, f: &Fault, grace: u64) -> bool {
    op.start_ms <= f.end_ms + grace && f.start_ms <= op.end_ms
}

/// The 4xx statuses an operation may get by the contract (a refusal of the action).
fn expected_4xx(kind: &str) -> &'static [u16] {
    match kind {
        "job.schedule" | "job.complete" | "job.cancel" => &[409],
        "refund.operator" => &[409, 422],
        _ => &[],
    }
}

pub fn check_answers(f: &mut Findings, ops: &[Op], faults: &[Fault]) {
    for op in ops {
        if !op.target.starts_with("api") {
            continue;
        }
        f.count("client operations", 1);
        let in_db_fault = faults
            .iter()
            .any(|w| w.cuts_database() && overlaps(op, w, DB_GRACE_MS));
        let own_fault = faults
            .iter()
            .any(|w| w.target == op.target && overlaps(op, w, PROC_GRACE_MS));
        let what = || {
            format!(
                "op #{} {} {} to {} ({})",
                op.id, op.kind, op.story, op.target, op.result
            )
        };
        match op.status {
            0 => {
                f.count("answers none (timeout or refused)", 1);
                if !in_db_fault && !own_fault {
                    f.breach(
                        op.end_ms,
                        format!("{} went unanswered outside any fault", what()),
                    );
                }
            }
            503 => {
                f.count("answers 503", 1);
                if !in_db_fault && !own_fault {
                    f.breach(op.end_ms, format!("{} got 503 outside any fault", what()));
                }
            }
            s if s >= 500 => f.breach(op.end_ms, format!("{} got {s}", what())),
            s if s >= 400 => {
                f.count(&format!("answers {s}"), 1);
                if !expected_4xx(op.kind).contains(&s) {
                    f.breach(op.end_ms, format!("{} got {s}", what()));
                }
            }
            _ => f.count("answers 2xx", 1),
        }
    }
}

pub fn check_deaths(f: &mut Findings, deaths: &[Death], faults: &[Fault]) {
    for d in deaths {
        let db_down = faults.iter().any(|w| {
            w.cuts_database() && w.start_ms <= d.at_ms && d.at_ms <= w.end_ms + DB_GRACE_MS
        });
        if d.at_start && db_down {
            f.count("processes refused to start (database unreachable)", 1);
            continue;
        }
        f.breach(
            d.at_ms,
            format!(
                "{} exited with {:?}, not killed by the nemesis: {}",
                d.process, d.code, d.log_tail
            ),
        );
    }
}
