//! Logging: `RUST_LOG`-style filter, human output by default, JSON with `LOG_JSON=true`
//! (`--log-json`). Colour codes only when stderr is a terminal: a log file or a pipe (a
//! container runtime, systemd's journal) gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    // A second init (tests, or `--dev` composing processes) keeps the first subscriber.
    let _ = result;
}
