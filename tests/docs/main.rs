//! Docs that cannot drift (issue 37): every relative link and anchor of `README.md`,
//! `CONTRIBUTING.md` and `docs/**/*.md` resolves (and the alert rules' runbook links), and
//! the reference pages that list what the code has (the HTTP operations, the feed's event
//! types, each binary's flags) list exactly that. The tutorial's commands are run by
//! `tests/faults/tutorial.rs`; the configuration, status and Stripe field tables are checked
//! by `tests/config_table.rs`, `tests/lifecycle/{table,job_table}.rs` and
//! `tests/api/stripe_versions.rs`.

#[path = "../common/help.rs"]
mod help;
mod links;
mod references;

use std::path::{Path, PathBuf};

use links::Pages;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(Path::new(ROOT).join(dir))
        .expect("a folder")
        .flatten()
    {
        let path = dir.join(entry.file_name());
        if entry.path().is_dir() {
            markdown_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// `README.md`, `CONTRIBUTING.md` when there is one, and every page under `docs/`.
fn pages() -> Pages {
    let mut paths = vec![PathBuf::from("README.md"), PathBuf::from("CONTRIBUTING.md")];
    markdown_under(Path::new("docs"), &mut paths);
    paths
        .into_iter()
        .filter_map(|p| {
            Some((
                p.clone(),
                std::fs::read_to_string(Path::new(ROOT).join(&p)).ok()?,
            ))
        })
        .collect()
}

fn on_disk(path: &Path) -> bool {
    Path::new(ROOT).join(path).exists()
}

fn read_on_disk(path: &Path) -> Option<String> {
    std::fs::read_to_string(Path::new(ROOT).join(path)).ok()
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let pages = pages();
    assert!(pages.len() > 20, "the pages were found: {:?}", pages.keys());
    let broken = links::broken_links(&pages, &on_disk, &read_on_disk);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_alert_rule_names_a_runbook_section_that_exists() {
    let rules = read_on_disk(Path::new("deploy/monitoring/alerts.yaml")).expect("the rules");
    let alerts = rules.matches("- alert:").count();
    let runbooks: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook: "))
        .collect();
    assert_eq!(runbooks.len(), alerts, "one runbook per alert");
    for target in runbooks {
        // Runbook links are written from the repository root.
        links::resolve(
            Path::new("alerts.yaml"),
            target,
            &pages(),
            &on_disk,
            &read_on_disk,
        )
        .unwrap_or_else(|why| panic!("runbook {target}: {why}"));
    }
}

/// The check itself, on made-up pages: each kind of broken link is reported, and only those.
#[test]
fn a_broken_link_or_anchor_is_reported_and_code_is_not_a_link() {
    let page = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    let pages: Pages = [
        page(
            "docs/a.md",
            "# A\n\nSee [b](b.md#present), [gone](b.md#absent), [c](../c.md), [d](missing.md),\n\
             [self](#a) and [nowhere](#nowhere); `[code](missing.md)`, <https://example.com>.\n\n\
             ```sh\n[fenced](missing.md)\n```\n\n[ref]: ../README.md#also-absent\n",
        ),
        page("docs/b.md", "# B\n\n## Present\n"),
        page("README.md", "# Readme\n"),
    ]
    .into_iter()
    .collect();
    let exists = |p: &Path| pages.contains_key(p) || p == Path::new("c.md");
    let broken = links::broken_links(&pages, &exists, &|_: &Path| None);
    let reported: Vec<&str> = broken
        .iter()
        .map(|b| b.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        reported,
        [
            "b.md#absent",
            "missing.md",
            "#nowhere",
            "../README.md#also-absent"
        ],
        "{broken:#?}"
    );
}

#[test]
fn anchors_follow_githubs_rules() {
    for (heading, slug) in [
        (
            "The operator console (`/admin`)",
            "the-operator-console-admin",
        ),
        (
            "Stripe's objects, any API version",
            "stripes-objects-any-api-version",
        ),
        ("0. Start the system", "0-start-the-system"),
        (
            "Sizing (from [BENCHMARKS.md](BENCHMARKS.md), 2 shared cores)",
            "sizing-from-benchmarksmd-2-shared-cores",
        ),
        ("`h2s_orders` and **money**", "h2s_orders-and-money"),
    ] {
        assert_eq!(links::slug(heading), slug, "{heading}");
    }
    let anchors =
        links::anchors("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n<a id=\"x\"></a>\n");
    assert_eq!(
        anchors.into_iter().collect::<Vec<_>>(),
        ["notes", "notes-1", "x"]
    );
}
