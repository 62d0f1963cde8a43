//! The configuration reference's tables (`docs/reference/configuration.md`) and the binaries'
//! `--help` name the same settings: every flag (with its environment variable) that `api`,
//! `worker` or `reconcile` accepts has a row, and every row is a flag some binary accepts. The
//! `*_FILE` twins of secrets are covered by the page's paragraph on secrets rather than by
//! rows of their own.

#[path = "common/help.rs"]
mod help;

use std::collections::BTreeSet;

use help::BINARIES;

/// `(flag, env)`: `--database-url`, `Some("DATABASE_URL")`.
type Setting = (String, Option<String>);

/// The flags of one binary's `--help`, each with the variable its `[env: ...]` names.
fn help_settings(exe: &str) -> Vec<Setting> {
    let text = help::help(exe);
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

/// The rows of the page's configuration tables: the first two columns, flag and env.
fn page_settings(page: &str) -> Vec<Setting> {
    page.lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let flag = cells[1].trim_matches('`').to_owned();
            let env = Some(cells[2].trim_matches('`').to_owned()).filter(|e| !e.is_empty());
            (flag, env)
        })
        .collect()
}

/// A `--x-file` / `X_FILE` twin of a secret setting `--x` / `X` the page lists as one.
fn is_secret_file_twin(setting: &Setting, documented: &BTreeSet<Setting>, page: &str) -> bool {
    let (flag, env) = setting;
    let (Some(base_flag), Some(base_env)) = (
        flag.strip_suffix("-file"),
        env.as_deref().and_then(|e| e.strip_suffix("_FILE")),
    ) else {
        return false;
    };
    let start = page
        .find("\nSecrets (")
        .expect("the page's paragraph on secrets");
    let secrets = &page[start..start + page[start..].find(')').unwrap_or(0)];
    documented.contains(&(base_flag.to_owned(), Some(base_env.to_owned())))
        && secrets.contains(&format!("`{base_env}`"))
}

#[test]
fn the_configuration_reference_and_every_binarys_help_name_the_same_settings() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/reference/configuration.md"
    ))
    .expect("docs/reference/configuration.md");
    let documented: BTreeSet<Setting> = page_settings(&page).into_iter().collect();
    assert!(
        documented.len() > 20,
        "the tables were found: {documented:?}"
    );

    let mut accepted = BTreeSet::new();
    let mut missing = Vec::new();
    for (name, exe) in BINARIES {
        for setting in help_settings(exe) {
            if !documented.contains(&setting) && !is_secret_file_twin(&setting, &documented, &page)
            {
                missing.push(format!("{name}: {} {:?}", setting.0, setting.1));
            }
            accepted.insert(setting);
        }
    }
    assert!(
        missing.is_empty(),
        "in --help but not in docs/reference/configuration.md: {missing:#?}"
    );
    let unknown: Vec<_> = documented.difference(&accepted).collect();
    assert!(
        unknown.is_empty(),
        "in docs/reference/configuration.md but in no binary's --help: {unknown:#?}"
    );
}
