//! The history of a run, as Jepsen keeps one: every client operation with its start, end and
//! result, and every fault with its window, in memory for the checker and as JSON lines in a
//! file (one object a line, `"type": "op" | "fault" | "plan" | "death"`), times in
//! milliseconds since the run began.

use std::{
    io::Write as _,
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use serde::Serialize;
use serde_json::Value;

/// One client operation: what was asked of whom, when, and what came back.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    pub id: u64,
    /// `checkout`, `order.get`, `job.schedule`, `refund.operator`, `webhook`, `stripe.pay`, ...
    pub kind: &'static str,
    /// The story (one customer's order) it belongs to, `s17`; empty for none.
    pub story: String,
    /// The process or party asked: `api0`, `api1`, `stripe`.
    pub target: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The HTTP status; 0 when no answer came (timeout, connection refused or reset).
    pub status: u16,
    /// What the answer said that matters (an order id, an error code, the transport error).
    pub result: Value,
}

/// A fault the nemesis injected, and the window it was active in.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: &'static str,
    pub target: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Fault {
    /// The database could not be reached, or refused writes, during this fault (injected,
    /// or observed: `db_slow`).
    pub fn cuts_database(&self) -> bool {
        matches!(self.kind, "failover" | "stall" | "resets" | "db_slow")
    }
}

/// A process that exited without the nemesis killing it.
#[derive(Debug, Clone, Serialize)]
pub struct Death {
    pub process: String,
    pub at_ms: u64,
    pub code: Option<i32>,
    /// It had not come up yet (refused to start, as the contract says a process does while
    /// its database is unreachable).
    pub at_start: bool,
    pub log_tail: String,
}

pub struct History {
    pub start: Instant,
    pub path: PathBuf,
    file: Mutex<std::io::BufWriter<std::fs::File>>,
    next: AtomicU64,
    pub ops: Mutex<Vec<Op>>,
    pub faults: Mutex<Vec<Fault>>,
    pub deaths: Mutex<Vec<Death>>,
}

impl History {
    pub fn create(path: PathBuf) -> History {
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("the history file {}: {e}", path.display()));
        History {
            start: Instant::now(),
            path,
            file: Mutex::new(std::io::BufWriter::new(file)),
            next: AtomicU64::new(1),
            ops: Mutex::default(),
            faults: Mutex::default(),
            deaths: Mutex::default(),
        }
    }

    pub fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    pub fn now_ms(&self) -> u64 {
        self.ms(Instant::now())
    }

    fn line(&self, kind: &str, value: impl Serialize) {
        let mut object = serde_json::to_value(value).expect("a history line serialises");
        object["type"] = Value::from(kind);
        let mut file = self.file.lock().unwrap();
        let _ = writeln!(file, "{object}");
    }

    /// Records an operation that began at `started` and has just ended.
    pub fn op(
        &self,
        kind: &'static str,
        story: &str,
        target: &str,
        started: Instant,
        status: u16,
        result: Value,
    ) -> Op {
        let op = Op {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            kind,
            story: story.to_owned(),
            target: target.to_owned(),
            start_ms: self.ms(started),
            end_ms: self.now_ms(),
            status,
            result,
        };
        self.line("op", &op);
        self.ops.lock().unwrap().push(op.clone());
        op
    }

    /// Records a fault that was active from `started` until now.
    pub fn fault(&self, kind: &'static str, target: &str, started: Instant) {
        let fault = Fault {
            kind,
            target: target.to_owned(),
            start_ms: self.ms(started),
            end_ms: self.now_ms(),
        };
        self.line("fault", &fault);
        self.faults.lock().unwrap().push(fault);
    }

    pub fn death(&self, death: Death) {
        self.line("death", &death);
        self.deaths.lock().unwrap().push(death);
    }

    /// Any other line (the plan, the summary).
    pub fn note(&self, kind: &str, value: impl Serialize) {
        self.line(kind, value);
    }

    pub fn flush(&self) {
        let _ = self.file.lock().unwrap().flush();
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.faults.lock().unwrap().clone()
    }
}
