//! The api's and the worker's settings as `main` parses them (flags, then the environment,
//! then the defaults), so that tests start the processes with production's defaults and
//! override only what they are about. Shared by `tests/api` and `tests/lifecycle` (each
//! includes this file with `#[path]`).

#![allow(dead_code)]

use clap::Parser;
use h2s_dispatch::config::{ApiSettings, OutboxSettings, WorkerSettings};

/// The flags `api` takes (its `--dev` worker's among them).
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    api: ApiSettings,
    #[command(flatten)]
    outbox: OutboxSettings,
}

/// The settings `api` and `worker` would have with these flags, the api's checked.
pub fn parse(args: &[String]) -> (ApiSettings, WorkerSettings) {
    let mut flags =
        Flags::try_parse_from(std::iter::once("test").chain(args.iter().map(String::as_str)))
            .unwrap_or_else(|e| panic!("the test's flags {args:?}: {e}"));
    flags.api.check().expect("the api's settings");
    let worker = WorkerSettings::beside(&flags.api, flags.outbox);
    (flags.api, worker)
}

/// `--flag value` pairs as arguments.
pub fn args<const N: usize>(pairs: [(&str, String); N]) -> Vec<String> {
    pairs
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
}
