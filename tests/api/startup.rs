//! The binaries refuse to start without what they need, with one clear line.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .env("RUST_LOG", "off")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[test]
fn the_api_without_a_webhook_secret_stops_naming_the_setting() {
    let (code, stderr) = run(env!("CARGO_BIN_EXE_api"), &["--bind", "127.0.0.1:0"]);
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("STRIPE_WEBHOOK_SECRET"), "{stderr}");
}

#[test]
fn the_worker_without_a_stripe_key_stops_naming_the_setting() {
    let (code, stderr) = run(env!("CARGO_BIN_EXE_worker"), &[]);
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("STRIPE_SECRET_KEY"), "{stderr}");
}

#[test]
fn an_unreachable_database_stops_the_process_with_the_url_and_no_password() {
    let (code, stderr) = run(
        env!("CARGO_BIN_EXE_worker"),
        &[
            "--stripe-secret-key",
            "sk_test_x",
            "--database-url",
            "postgres://postgres:hunter2@127.0.0.1:1/h2s",
        ],
    );
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    assert!(!stderr.contains("sk_test_x"), "the key leaked: {stderr}");
}
