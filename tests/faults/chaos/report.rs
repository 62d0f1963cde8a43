//! The summary table of a run, and its verdict: the seed, the first breach, and how to
//! replay the schedule.

use std::time::Duration;

use crate::{
    chaos::{
        checker::{self, Findings},
        history::History,
        plan::Plan,
    },
    report,
};

pub fn summary(
    f: &Findings,
    history: &History,
    plan: &Plan,
    run: Duration,
    stories: usize,
) -> String {
    let mut table = format!(
        "[faults/chaos] seed={} run_s={} stories={stories} faults_planned={} history={}\n",
        plan.seed,
        run.as_secs(),
        plan.faults.len(),
        history.path.display()
    );
    for (what, n) in &f.counts {
        table.push_str(&format!("  {what:<48} {n:>7}\n"));
    }
    table.push_str(&format!("  {:<48} {:>7}\n", "breaches", f.breaches.len()));
    table
}

pub fn verdict(f: &Findings, seed: u64, run: Duration, history: &History) {
    let Some(first) = f.breaches.iter().min_by_key(|b| b.at_ms) else {
        return;
    };
    // Every breach of the final state, and the first few of the answers (which come in
    // bursts), in time order; all of them are in the history's summary line.
    let mut sorted: Vec<&checker::Breach> = f.breaches.iter().collect();
    sorted.sort_by_key(|b| b.at_ms);
    let (at_end, answers): (Vec<_>, Vec<_>) = sorted.into_iter().partition(|b| b.at_ms >= f.end_ms);
    for b in answers.iter().take(10).chain(&at_end) {
        report!("  breach at {} ms: {}", b.at_ms, b.what);
    }
    let minutes = run.as_secs_f64() / 60.0;
    panic!(
        "chaos seed {seed}: {} breaches; the first, at {} ms: {} (history: {}; replay the \
         schedule: scripts/chaos --seed {seed} --minutes {minutes})",
        f.breaches.len(),
        first.at_ms,
        first.what,
        history.path.display()
    );
}
