//! The OpenAPI description checked by a tool we did not write: Schemathesis (PyPI
//! `schemathesis`, pinned in `scripts/prepare`) against the real api on a fresh database,
//! with every check, the description's links followed (stateful phase), a fixed seed, once
//! with the admin token and once without. Any failure fails the test, with Schemathesis's
//! report. The exceptions allowed are in `tests/api/schemathesis.toml`, each with its reason.

use std::{process::Command, time::Duration};

use h2s_dispatch::checkout::request::{ReturnUrl, UrlDefaults};

use crate::helpers::{ADMIN_TOKEN, Options, spawn_app_with};

/// Examples per operation and phase: enough to find each failure this suite was written
/// against, little enough for a few minutes on two busy cores.
const EXAMPLES: &str = "12";
const SEED: &str = "20261207";
/// The message of CPython issue 106905 (Python 3.11's `ast` recursion bookkeeping).
const INTERPRETER_BUG: &str = "AST constructor recursion depth mismatch";

fn schemathesis() -> String {
    std::env::var("SCHEMATHESIS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/h2s-schemathesis-4.32.5/bin/schemathesis",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

/// One run over the served description; its exit status and report.
fn run(base_url: &str, token: Option<&str>) -> (bool, String) {
    let mut command = Command::new(schemathesis());
    // Its caches (`.schemathesis/`) go under the build's scratch directory, not the sources.
    command
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .arg("--config-file")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/schemathesis.toml"
        ))
        .arg("run")
        .arg(format!("{base_url}/openapi.json"))
        .args([
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            EXAMPLES,
        ])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // Deterministic generation (no randomness, no example database): every run sends the
        // same cases. In random mode with the seed, Schemathesis 4.32.5 itself crashed once
        // (a KeyError in its coverage phase), so the seed is passed but the run does not
        // depend on it.
        .args(["--workers", "2", "--no-color", "--generation-deterministic"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = command.output().unwrap_or_else(|e| {
        panic!(
            "{}: {e} (Schemathesis: source scripts/prepare installs it)",
            schemathesis()
        )
    });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_with_and_without_the_admin_token() {
    let url = |u: &str| ReturnUrl::parse(u).unwrap();
    let app = spawn_app_with(Options {
        checkout_wait: Duration::from_secs(2),
        checkout_urls: UrlDefaults {
            success_url: Some(url("https://shop.example/thanks")),
            cancel_url: Some(url("https://shop.example/cart")),
        },
        ..Options::default()
    })
    .await;
    let base_url = app.base_url.clone();
    for token in [Some(ADMIN_TOKEN), None] {
        let base_url = base_url.clone();
        let (ok, report) = tokio::task::spawn_blocking(move || {
            let first = run(&base_url, token);
            // CPython 3.11's `ast` can fail on its own recursion bookkeeping (python/cpython
            // issue 106905) when Hypothesis parses a source file on a deep stack: an error of
            // the interpreter, reported by Schemathesis as a "Runtime Error" of one operation,
            // not a finding about the api. That one error, and no other, gets a second run.
            if first.0 || !first.1.contains(INTERPRETER_BUG) {
                return first;
            }
            println!(
                "{}\n(the interpreter's ast error above: run again)",
                first.1
            );
            run(&base_url, token)
        })
        .await
        .unwrap();
        println!("{report}");
        assert!(
            ok,
            "Schemathesis failed ({}):\n{report}",
            if token.is_some() {
                "with the admin token"
            } else {
                "without"
            }
        );
    }
    app.shutdown().await;
}
