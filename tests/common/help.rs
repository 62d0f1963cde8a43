//! The three binaries, and the `--help` each prints with nothing set in its environment (clap
//! shows the values it finds there). Read by `tests/config_table.rs` (the configuration
//! reference names the same settings) and `tests/docs` (the CLI reference is this text).

pub const BINARIES: [(&str, &str); 3] = [
    ("api", env!("CARGO_BIN_EXE_api")),
    ("worker", env!("CARGO_BIN_EXE_worker")),
    ("reconcile", env!("CARGO_BIN_EXE_reconcile")),
];

/// `exe --help`, as it prints it.
pub fn help(exe: &str) -> String {
    let out = std::process::Command::new(exe)
        .arg("--help")
        .env_clear()
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{exe} --help");
    String::from_utf8(out.stdout).expect("utf-8 help")
}
