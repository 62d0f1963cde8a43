//! Stopping a process: one signal for all of its tasks, fired by SIGTERM or ctrl-c.

/// One stop signal for every task of a process (the api, the worker, a metrics endpoint,
/// the in-process reconciler): `stop` once, and every `stopped()` future resolves, including
/// those made after the stop.
#[derive(Clone)]
pub struct Stop(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Stop(std::sync::Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Stop {
    /// A stop signal that fires on SIGTERM or ctrl-c (see [`shutdown_signal`]).
    pub fn on_signal() -> Stop {
        let stop = Stop::default();
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            trigger.stop();
        });
        stop
    }

    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once [`Stop::stop`] has been called.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
