//! Every relative link and `#anchor` in the Markdown resolves, by GitHub's rules: a path is
//! taken from the linking file's folder and must exist; an anchor must be a heading's slug
//! in the target page (lower case, punctuation but `-` and `_` dropped, spaces made `-`, a
//! repeated slug numbered `-1`, `-2`, ...) or an explicit `<a id>`/`<a name>`. Links inside
//! code blocks and code spans are text, not links; links with a scheme (`https:`, `mailto:`)
//! are not followed.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A page, by its path from the repository root (`docs/how-to/deploy.md`).
pub type Pages = BTreeMap<PathBuf, String>;

/// The lines of `text` that are not inside a fenced code block, numbered from 1.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            continue;
        }
        out.push((i + 1, line));
    }
    out
}

fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out += part;
        }
    }
    out
}

/// GitHub's slug of a heading's text.
pub fn slug(heading: &str) -> String {
    let text = link_texts(heading);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// `[text](target)` made `text`, as the heading is rendered.
fn link_texts(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](").map(|m| open + m) else {
            break;
        };
        let Some(close) = rest[mid..].find(')').map(|c| mid + c) else {
            break;
        };
        out += &rest[..open];
        out += &rest[open + 1..mid];
        rest = &rest[close + 1..];
    }
    out + rest
}

/// The anchors of a page: its headings' slugs (numbered when repeated) and explicit ids.
pub fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        for attr in ["<a id=\"", "<a name=\""] {
            if let Some(at) = line.find(attr) {
                let rest = &line[at + attr.len()..];
                out.insert(rest[..rest.find('"').unwrap_or(0)].to_owned());
            }
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The link targets of a line: inline links and images `](target)`, and reference
/// definitions `[name]: target`.
fn targets(line: &str) -> Vec<String> {
    let mut out = vec![];
    for (at, _) in line.match_indices("](") {
        let rest = &line[at + 2..];
        let end = rest.find([')', ' ']).unwrap_or(rest.len());
        out.push(rest[..end].trim_matches(['<', '>']).to_owned());
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('[')
        && let Some(def) = trimmed.find("]: ")
    {
        out.push(
            trimmed[def + 3..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned(),
        );
    }
    out
}

/// Every broken link of `pages`, as `page:line: target (why)`. `exists` says whether a path
/// (from the repository root) is a file or folder; anchors are looked up in `pages`, or, for
/// a Markdown file not among them, in the text `read` gives.
pub fn broken_links(
    pages: &Pages,
    exists: &dyn Fn(&Path) -> bool,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Vec<String> {
    let mut out = vec![];
    for (page, text) in pages {
        for (n, line) in prose_lines(text) {
            for target in targets(&without_code_spans(line)) {
                if target.is_empty() || target.contains(':') {
                    continue;
                }
                if let Err(why) = resolve(page, &target, pages, exists, read) {
                    out.push(format!("{}:{n}: {target} ({why})", page.display()));
                }
            }
        }
    }
    out
}

/// `target` as linked from `page`: Ok, or why not.
pub fn resolve(
    page: &Path,
    target: &str,
    pages: &Pages,
    exists: &dyn Fn(&Path) -> bool,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<(), String> {
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() {
        page.to_path_buf()
    } else {
        normalize(&page.parent().unwrap_or(Path::new("")).join(path))?
    };
    if !exists(&file) {
        return Err(format!("no such file: {}", file.display()));
    }
    if anchor.is_empty() {
        return Ok(());
    }
    let text = pages
        .get(&file)
        .cloned()
        .or_else(|| read(&file))
        .ok_or_else(|| format!("an anchor into {}, not a Markdown page", file.display()))?;
    if anchors(&text).contains(anchor) {
        Ok(())
    } else {
        Err(format!("no heading #{anchor} in {}", file.display()))
    }
}

/// `a/b/../c` made `a/c`; a path that climbs out of the repository is an error.
fn normalize(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return Err(format!("{} leaves the repository", path.display()));
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}
