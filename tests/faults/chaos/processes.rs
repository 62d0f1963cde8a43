//! The processes of the system: 2 apis, 3 workers and the reconciler as real child
//! processes, each in a slot that a supervisor restarts like an init system would (recording
//! the death), and that the nemesis may kill or stop.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    chaos::{
        history::{Death, History},
        plan::SLOTS,
        system::{api_flags, reconcile_flags, worker_flags},
    },
    helpers::{Proc, free_port},
};

/// A binary of the build (or of `CHAOS_BIN_DIR`, where `scripts/chaos` copies them so that a
/// rebuild during a long run does not change the processes it restarts).
fn binary(name: &str) -> String {
    if let Ok(dir) = std::env::var("CHAOS_BIN_DIR") {
        return format!("{dir}/{name}");
    }
    match name {
        "api" => env!("CARGO_BIN_EXE_api"),
        "worker" => env!("CARGO_BIN_EXE_worker"),
        _ => env!("CARGO_BIN_EXE_reconcile"),
    }
    .to_owned()
}

struct SlotState {
    proc: Option<Proc>,
    /// The nemesis holds it down (killed, waiting for its restart).
    held: bool,
    /// Its `/healthz` answered since it was last started.
    ready: bool,
}

/// One process of the system, restarted whenever it exits.
pub struct Slot {
    pub name: &'static str,
    /// The api's port, or the `/metrics` and `/healthz` port of a worker or the reconciler.
    pub port: u16,
    args: Vec<String>,
    env: Vec<(String, String)>,
    state: Mutex<SlotState>,
}

impl Slot {
    fn new(name: &'static str, db: &str, stripe: &str) -> Slot {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut args: Vec<String> = ["--database-url", db, "--create-database"]
            .map(String::from)
            .to_vec();
        let mut env = Vec::new();
        let (flags, metrics_env): (Vec<&str>, _) = match name {
            n if n.starts_with("api") => (api_flags(&bind), None),
            n if n.starts_with("worker") => (worker_flags(stripe), Some("WORKER_METRICS_BIND")),
            _ => (reconcile_flags(stripe), Some("RECONCILE_METRICS_BIND")),
        };
        args.extend(flags.into_iter().map(String::from));
        if let Some(var) = metrics_env {
            env.push((var.to_owned(), bind));
        }
        Slot {
            name,
            port,
            args,
            env,
            state: Mutex::new(SlotState {
                proc: None,
                held: false,
                ready: false,
            }),
        }
    }

    fn exe(&self) -> String {
        binary(self.name.trim_end_matches(|c: char| c.is_ascii_digit()))
    }

    /// Starts the process (its readiness is seen by the supervisor).
    pub fn spawn(&self) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let proc = Proc::spawn_with_env(self.name, &self.exe(), &self.args, &env);
        let mut state = self.state.lock().unwrap();
        state.proc = Some(proc);
        state.held = false;
        state.ready = false;
    }

    pub fn healthz(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.state.lock().unwrap().proc.as_ref().map(Proc::pid)
    }

    /// `kill -9`; the supervisor leaves it down until [`Slot::spawn`].
    pub fn kill(&self) {
        let mut state = self.state.lock().unwrap();
        state.held = true;
        if let Some(proc) = state.proc.as_mut() {
            proc.kill();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status();
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state.lock().unwrap().ready
    }

    /// Stops it for good at the end of the run (SIGTERM, then SIGKILL).
    pub fn stop_for_good(&self) {
        let mut state = self.state.lock().unwrap();
        state.held = true;
        if let Some(proc) = state.proc.as_mut() {
            proc.terminate(Duration::from_secs(5));
        }
    }
}

/// Every process of the system, in [`SLOTS`] order.
pub struct Processes {
    pub slots: Vec<Arc<Slot>>,
}

impl Processes {
    pub fn new(db: &str, stripe: &str) -> Processes {
        Processes {
            slots: SLOTS
                .iter()
                .map(|name| Arc::new(Slot::new(name, db, stripe)))
                .collect(),
        }
    }

    pub fn api_urls(&self) -> Vec<String> {
        self.slots[..2]
            .iter()
            .map(|s| format!("http://127.0.0.1:{}", s.port))
            .collect()
    }

    /// Starts every process (the first api alone first: it creates and migrates the
    /// database), and waits until all are ready.
    pub async fn start(&self) {
        self.slots[0].spawn();
        self.wait_ready(&self.slots[..1]).await;
        for slot in &self.slots[1..] {
            slot.spawn();
        }
        self.wait_ready(&self.slots).await;
    }

    async fn wait_ready(&self, slots: &[Arc<Slot>]) {
        let end = Instant::now() + Duration::from_secs(90);
        while !slots.iter().all(|s| s.is_ready()) {
            assert!(Instant::now() < end, "the system did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Watches every slot: marks it ready when its `/healthz` answers, and restarts (after a
/// second) a process that exited without the nemesis holding it, recording its death.
pub fn supervise(processes: Arc<Vec<Arc<Slot>>>, history: Arc<History>) {
    tokio::spawn(async move {
        let http = crate::chaos::client::http(Duration::from_millis(500));
        loop {
            for slot in processes.iter() {
                watch(slot, &http, &history).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

async fn watch(slot: &Arc<Slot>, http: &reqwest::Client, history: &History) {
    let died = {
        let mut state = slot.state.lock().unwrap();
        let held = state.held;
        let exited = match state.proc.as_mut() {
            Some(proc) if !held => proc.child.try_wait().ok().flatten(),
            _ => None,
        };
        exited.map(|status| (status.code(), state.proc.take(), state.ready))
    };
    if let Some((code, proc, ready)) = died {
        history.death(Death {
            process: slot.name.to_owned(),
            at_ms: history.now_ms(),
            code,
            at_start: !ready,
            log_tail: proc.map(|p| p.log_tail(5)).unwrap_or_default(),
        });
        let slot = slot.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let idle = {
                let state = slot.state.lock().unwrap();
                !state.held && state.proc.is_none()
            };
            if idle {
                slot.spawn();
            }
        });
        return;
    }
    let probe = {
        let state = slot.state.lock().unwrap();
        state.proc.is_some() && !state.ready
    };
    if probe
        && let Ok(r) = http.get(slot.healthz()).send().await
        && r.status().is_success()
    {
        slot.state.lock().unwrap().ready = true;
    }
}
