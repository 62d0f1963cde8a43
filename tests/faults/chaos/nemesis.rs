//! The nemesis: each fault of the plan injected at its time, for its duration, alone or
//! overlapping others, and recorded in the history with the window it was really active in.
//! Overlapping faults of one kind of target (Stripe, the relay, the flaky receiver) combine:
//! each target follows the set of its faults active now.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use stripe_standin::{Faults, StandIn};

use crate::{
    chaos::{
        feed::{Behave, Receiver},
        history::History,
        plan::{Fault, FaultKind, SLOTS},
        processes::Slot,
        relay::Mode,
        system::Db,
    },
    failover::wait_streaming,
};

/// How long a Stripe call hangs in a timeout fault: past the processes' 1.5 s timeout.
const STRIPE_HANG: Duration = Duration::from_millis(2_500);

pub struct Nemesis {
    pub db: Arc<Db>,
    pub slots: Arc<Vec<Arc<Slot>>>,
    pub stripe: Arc<StandIn>,
    pub relay: tokio::sync::watch::Sender<Mode>,
    pub flaky: Receiver,
    pub history: Arc<History>,
    /// The faults of the shared targets active now.
    active: Mutex<Vec<FaultKind>>,
}

impl Nemesis {
    pub fn new(
        db: Arc<Db>,
        slots: Arc<Vec<Arc<Slot>>>,
        stripe: Arc<StandIn>,
        relay: tokio::sync::watch::Sender<Mode>,
        flaky: Receiver,
        history: Arc<History>,
    ) -> Nemesis {
        Nemesis {
            db,
            slots,
            stripe,
            relay,
            flaky,
            history,
            active: Mutex::default(),
        }
    }

    /// Injects every fault of `faults` at its time from `start`; returns when all are over.
    pub async fn run(self: Arc<Self>, faults: Vec<Fault>, start: Instant) {
        let mut tasks = Vec::new();
        for fault in faults {
            let this = self.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until((start + Duration::from_millis(fault.at_ms)).into()).await;
                this.inject(&fault).await;
            }));
        }
        for task in tasks {
            task.await.expect("a fault task");
        }
    }

    async fn inject(&self, fault: &Fault) {
        let started = Instant::now();
        let pause = Duration::from_millis(fault.for_ms);
        let kind = fault.kind;
        let target = match kind {
            FaultKind::Kill(s) | FaultKind::Stop(s) => SLOTS[s].to_owned(),
            FaultKind::Failover | FaultKind::Stall | FaultKind::Resets => "postgres".to_owned(),
            FaultKind::ReceiverFails | FaultKind::ReceiverStalls => "receiver".to_owned(),
            FaultKind::StripeErrors | FaultKind::StripeRateLimit | FaultKind::StripeTimeouts => {
                "stripe".to_owned()
            }
            _ => "relay".to_owned(),
        };
        match kind {
            FaultKind::Kill(s) => {
                let slot = &self.slots[s];
                slot.kill();
                tokio::time::sleep(pause).await;
                slot.spawn();
                let end = Instant::now() + Duration::from_secs(30);
                while !slot.is_ready() && Instant::now() < end {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            FaultKind::Stop(s) => {
                self.slots[s].signal("STOP");
                tokio::time::sleep(pause).await;
                self.slots[s].signal("CONT");
            }
            FaultKind::Failover => self.failover().await,
            FaultKind::Stall => {
                self.db.proxy.stall(true);
                tokio::time::sleep(pause).await;
                self.db.proxy.stall(false);
            }
            FaultKind::Resets => {
                let end = started + pause;
                while Instant::now() < end {
                    self.db.proxy.cut();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            shared => {
                self.active.lock().unwrap().push(shared);
                self.apply();
                tokio::time::sleep(pause).await;
                let mut active = self.active.lock().unwrap();
                if let Some(i) = active.iter().position(|k| *k == shared) {
                    active.remove(i);
                }
                drop(active);
                self.apply();
            }
        }
        self.history.fault(kind.name(), &target, started);
    }

    /// Stripe, the relay and the flaky receiver follow the faults active now.
    fn apply(&self) {
        let active = self.active.lock().unwrap().clone();
        let on = |k: FaultKind| active.contains(&k);
        self.stripe.set_faults(Faults {
            error_rate: if on(FaultKind::StripeErrors) {
                0.4
            } else {
                0.0
            },
            error_status: 500,
            hang_rate: if on(FaultKind::StripeTimeouts) {
                0.4
            } else {
                0.0
            },
            hang_for: STRIPE_HANG,
            rate_limit_per_sec: on(FaultKind::StripeRateLimit).then_some(5),
        });
        let mode = active.iter().rev().find_map(|k| match k {
            FaultKind::WebhooksDropped => Some(Mode::Drop),
            FaultKind::WebhooksDuplicated => Some(Mode::Duplicate),
            FaultKind::WebhooksDelayed => Some(Mode::Delay),
            FaultKind::WebhooksReordered => Some(Mode::Reorder),
            _ => None,
        });
        self.relay.send_replace(mode.unwrap_or(Mode::Normal));
        let behave = active.iter().rev().find_map(|k| match k {
            FaultKind::ReceiverFails => Some(Behave::Fail),
            FaultKind::ReceiverStalls => Some(Behave::Stall),
            _ => None,
        });
        self.flaky
            .behave
            .send_replace(behave.unwrap_or(Behave::Accept));
    }

    /// The primary dies (`-m immediate`), the standby is promoted and the proxy switched to
    /// it, and the old primary is replaced by a new standby (`pg_basebackup` from the new
    /// primary), whose streaming lets the synchronous commits through again.
    async fn failover(&self) {
        let (old, standby) = self.db.nodes.lock().unwrap().clone();
        let o = old.clone();
        tokio::task::spawn_blocking(move || o.kill()).await.unwrap();
        self.db.proxy.cut();
        let s = standby.clone();
        tokio::task::spawn_blocking(move || s.promote())
            .await
            .unwrap();
        self.db.proxy.switch_to(standby.port);
        let s = standby.clone();
        let rebuilt = tokio::task::spawn_blocking(move || s.standby())
            .await
            .unwrap();
        wait_streaming(&standby.server_url(), 1).await;
        *self.db.nodes.lock().unwrap() = (standby, Arc::new(rebuilt));
        // The old primary's files go (its `Drop` runs `pg_ctl`: off the runtime).
        tokio::task::spawn_blocking(move || drop(old))
            .await
            .unwrap();
    }
}
