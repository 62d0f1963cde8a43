//! The README's configuration tables and the binaries' `--help` name the same settings: every
//! flag (with its environment variable) that `api`, `worker` or `reconcile` accepts has a row,
//! and every row is a flag some binary accepts. The `*_FILE` twins of secrets are covered by
//! the README's paragraph on secrets rather than by rows of their own.

use std::collections::BTreeSet;

/// `(flag, env)`: `--database-url`, `Some("DATABASE_URL")`.
type Setting = (String, Option<String>);

const BINARIES: [(&str, &str); 3] = [
    ("api", env!("CARGO_BIN_EXE_api")),
    ("worker", env!("CARGO_BIN_EXE_worker")),
    ("reconcile", env!("CARGO_BIN_EXE_reconcile")),
];

/// The flags of one binary's `--help`, each with the variable its `[env: ...]` names.
fn help_settings(exe: &str) -> Vec<Setting> {
    let out = std::process::Command::new(exe)
        .arg("--help")
        .env_clear()
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{exe} --help");
    let text = String::from_utf8(out.stdout).expect("utf-8 help");
    let mut settings: Vec<Setting> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let flag_part = trimmed.strip_prefix("-h, ").unwrap_or(trimmed);
        if let Some(rest) = flag_part.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            settings.push((format!("--{name}"), None));
        }
        if let (Some(last), Some(at)) = (settings.last_mut(), line.find("[env: ")) {
            let env: String = line[at + 6..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            last.1 = Some(env);
        }
    }
    settings.retain(|(flag, _)| flag != "--help" && flag != "--version");
    settings
}

/// The rows of the README's configuration tables (section "Configuration"): the first two
/// columns, flag and env.
fn readme_settings(readme: &str) -> Vec<Setting> {
    let start = readme
        .find("\n## Configuration\n")
        .expect("a Configuration section");
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let flag = cells[1].trim_matches('`').to_owned();
            let env = Some(cells[2].trim_matches('`').to_owned()).filter(|e| !e.is_empty());
            (flag, env)
        })
        .collect()
}

/// A `--x-file` / `X_FILE` twin of a secret setting `--x` / `X` the README lists as one.
fn is_secret_file_twin(setting: &Setting, documented: &BTreeSet<Setting>, readme: &str) -> bool {
    let (flag, env) = setting;
    let (Some(base_flag), Some(base_env)) = (
        flag.strip_suffix("-file"),
        env.as_deref().and_then(|e| e.strip_suffix("_FILE")),
    ) else {
        return false;
    };
    let start = readme
        .find("\nSecrets (")
        .expect("the README's paragraph on secrets");
    let secrets = &readme[start..start + readme[start..].find(')').unwrap_or(0)];
    documented.contains(&(base_flag.to_owned(), Some(base_env.to_owned())))
        && secrets.contains(&format!("`{base_env}`"))
}

#[test]
fn the_readme_configuration_tables_and_every_binarys_help_name_the_same_settings() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let documented: BTreeSet<Setting> = readme_settings(&readme).into_iter().collect();
    assert!(
        documented.len() > 20,
        "the tables were found: {documented:?}"
    );

    let mut accepted = BTreeSet::new();
    let mut missing = Vec::new();
    for (name, exe) in BINARIES {
        for setting in help_settings(exe) {
            if !documented.contains(&setting)
                && !is_secret_file_twin(&setting, &documented, &readme)
            {
                missing.push(format!("{name}: {} {:?}", setting.0, setting.1));
            }
            accepted.insert(setting);
        }
    }
    assert!(
        missing.is_empty(),
        "in --help but not in the README's configuration tables: {missing:#?}"
    );
    let unknown: Vec<_> = documented.difference(&accepted).collect();
    assert!(
        unknown.is_empty(),
        "in the README's configuration tables but in no binary's --help: {unknown:#?}"
    );
}
