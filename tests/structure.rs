//! The shape of the code, checked: no source file over 300 lines, no function over 60 lines,
//! no import cycle between files (issue 12), and the layers of `CONTRIBUTING.md` (issue 32):
//! no import from a lower folder to a higher one, no loop between folders. Test code does not
//! count: files named `tests.rs` or `*_tests.rs`, files declared by `#[cfg(test)] mod x;`, and
//! `#[cfg(test)]` items.
//!
//! Files are parsed with `syn`. An import is any path in a file (`use` trees and paths in code)
//! that resolves to another file of the same crate, following `pub use` re-exports to the file
//! that defines the item, so a parent re-exporting a child is not mistaken for its user.
//! `cargo test --test structure -- --nocapture` prints every breach.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use syn::visit::Visit;

const MAX_FILE_LINES: usize = 300;
const MAX_FN_LINES: usize = 60;

/// The file whose ` ```layers ` block declares the library's layers, top to bottom.
const LAYERS_FILE: &str = "CONTRIBUTING.md";

/// Breaches kept on purpose, each with its reason: `(file or file:function, why)`.
const EXCEPTIONS: &[(&str, &str)] = &[];

/// One source file of a crate.
struct SourceFile {
    path: PathBuf,
    /// Module path inside its crate: `["reconcile", "queries"]`; empty for the crate root.
    module: Vec<String>,
    ast: syn::File,
    lines: usize,
    test_only: bool,
}

/// One crate's `src/`, with the layers its folders keep (the root package's, from
/// [`LAYERS_FILE`]; the crates under `crates/` are small enough to need none, and keep only
/// the rule against loops).
struct Root {
    src: PathBuf,
    layers: Option<Vec<Vec<String>>>,
}

/// The `src/` of the root package and of every workspace crate under `crates/`.
fn crate_roots() -> Vec<Root> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let declared = std::fs::read_to_string(root.join(LAYERS_FILE))
        .unwrap_or_else(|e| panic!("{LAYERS_FILE}: {e}"));
    let layers = parse_layers(&declared);
    assert!(
        !layers.is_empty(),
        "{LAYERS_FILE} declares no ```layers block"
    );
    let mut roots = vec![Root {
        src: root.join("src"),
        layers: Some(layers),
    }];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        for e in entries.flatten() {
            roots.push(Root {
                src: e.path().join("src"),
                layers: None,
            });
        }
    }
    roots.sort_by(|a, b| a.src.cmp(&b.src));
    roots
}

/// The layers of the first ` ```layers ` block of `text`, top first: one line per layer, its
/// folders separated by spaces, after an optional `label:`.
fn parse_layers(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip_while(|l| l.trim() != "```layers")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .map(|l| l.split_once(':').map_or(l, |(_, folders)| folders))
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|layer| !layer.is_empty())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .expect("readable source dir")
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| match &a.meta {
        syn::Meta::List(l) if l.path.is_ident("cfg") => {
            let tokens = l.tokens.to_string();
            tokens.contains("test") && !tokens.contains("not")
        }
        _ => false,
    })
}

fn load(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths.sort();
    let mut files: Vec<SourceFile> = paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            SourceFile {
                module: module_of(src, &path),
                lines: text.lines().count(),
                test_only: name == "tests" || name.ends_with("_tests"),
                path,
                ast,
            }
        })
        .collect();
    // A file declared `#[cfg(test)] mod x;` is test code, and so is everything below it.
    let mut test_modules: Vec<Vec<String>> = Vec::new();
    for f in &files {
        for item in &f.ast.items {
            if let syn::Item::Mod(m) = item
                && m.content.is_none()
                && is_cfg_test(&m.attrs)
            {
                let mut module = f.module.clone();
                module.push(m.ident.to_string());
                test_modules.push(module);
            }
        }
    }
    for f in &mut files {
        if test_modules.iter().any(|t| f.module.starts_with(t)) {
            f.test_only = true;
        }
    }
    files
}

/// Functions longer than the limit: `(name, lines)`, from the `fn` keyword to the closing brace.
#[derive(Default)]
struct LongFunctions(Vec<(String, usize)>);

impl LongFunctions {
    fn check(&mut self, name: &syn::Ident, sig: &syn::Signature, block: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        let lines = end + 1 - start;
        if lines > MAX_FN_LINES {
            self.0.push((name.to_string(), lines));
        }
    }
}

impl<'a> Visit<'a> for LongFunctions {
    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.check(&f.sig.ident, &f.sig, &f.block);
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        if !is_cfg_test(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.check(&f.sig.ident, &f.sig, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'a syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.check(&f.sig.ident, &f.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// Every path a file names (`use` trees flattened), as segments, outside test items.
#[derive(Default)]
struct Paths {
    paths: Vec<Vec<String>>,
    /// `use` items with `pub` visibility of any kind: `(name it is known by, target path)`.
    reexports: Vec<(String, Vec<String>)>,
    /// Child modules the file declares.
    children: BTreeSet<String>,
}

fn flatten_use(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(String, Vec<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut full = prefix.clone();
            full.push(n.ident.to_string());
            out.push((n.ident.to_string(), full));
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            full.push(r.ident.to_string());
            out.push((r.rename.to_string(), full));
        }
        syn::UseTree::Glob(_) => out.push(("*".into(), prefix.clone())),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| flatten_use(t, prefix, out)),
    }
}

impl<'a> Visit<'a> for Paths {
    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        if is_cfg_test(&m.attrs) {
            return;
        }
        if m.content.is_none() {
            self.children.insert(m.ident.to_string());
        }
        syn::visit::visit_item_mod(self, m);
    }
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        if !is_cfg_test(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        if is_cfg_test(&u.attrs) {
            return;
        }
        let mut flat = Vec::new();
        flatten_use(&u.tree, &mut Vec::new(), &mut flat);
        if !matches!(u.vis, syn::Visibility::Inherited) {
            self.reexports.extend(flat.iter().cloned());
        }
        self.paths.extend(flat.into_iter().map(|(_, p)| p));
    }
    // `pub(super)` names a module to grant access to, not something this file uses.
    fn visit_visibility(&mut self, _: &'a syn::Visibility) {}
    fn visit_path(&mut self, p: &'a syn::Path) {
        self.paths
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}

/// The file graph of one crate: which file's items each file uses.
struct Graph {
    names: Vec<String>,
    /// The top folder of each file (`reconcile` for `src/reconcile/sweep.rs`); "" for the root.
    folders: Vec<String>,
    edges: BTreeMap<usize, BTreeSet<usize>>,
}

fn import_graph(files: &[SourceFile]) -> Graph {
    let code: Vec<&SourceFile> = files.iter().filter(|f| !f.test_only).collect();
    let by_module: BTreeMap<Vec<String>, usize> = code
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let seen: Vec<Paths> = code
        .iter()
        .map(|f| {
            let mut v = Paths::default();
            v.visit_file(&f.ast);
            v
        })
        .collect();
    // Relative paths (`super::`, `self::`, a child's name) made absolute for file `i`.
    let absolute = |i: usize, path: &[String]| -> Option<Vec<String>> {
        let module = &code[i].module;
        let first = path.first()?.as_str();
        match first {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some([module.as_slice(), &path[1..]].concat()),
            "super" => {
                let mut m = module.clone();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    m.pop()?;
                    rest = &rest[1..];
                }
                Some([m.as_slice(), rest].concat())
            }
            _ if seen[i].children.contains(first) => Some([module.as_slice(), path].concat()),
            _ => None,
        }
    };
    // The file that defines what an absolute path names, through `pub use` re-exports.
    let resolve = |mut path: Vec<String>| -> Option<usize> {
        for _ in 0..8 {
            let (file, depth) = (0..=path.len())
                .rev()
                .find_map(|n| by_module.get(&path[..n]).map(|&f| (f, n)))?;
            let Some(name) = path.get(depth) else {
                return Some(file);
            };
            let target = seen[file]
                .reexports
                .iter()
                .find(|(alias, _)| alias == name)
                .and_then(|(_, target)| absolute(file, target));
            match target {
                Some(t) => path = [t.as_slice(), &path[depth + 1..]].concat(),
                None => return Some(file),
            }
        }
        None
    };
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, paths) in seen.iter().enumerate() {
        for p in &paths.paths {
            if let Some(target) = absolute(i, p).and_then(resolve)
                && target != i
            {
                edges.entry(i).or_default().insert(target);
            }
        }
    }
    Graph {
        names: code.iter().map(|f| f.path.display().to_string()).collect(),
        folders: code
            .iter()
            .map(|f| f.module.first().cloned().unwrap_or_default())
            .collect(),
        edges,
    }
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'g> {
        g: &'g Graph,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn strong(t: &mut T<'_>, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in t.g.edges.get(&v).into_iter().flatten() {
            match t.index[w] {
                None => {
                    strong(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(t.g.names[w].clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let n = g.names.len();
    let mut t = T {
        g,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            strong(&mut t, v);
        }
    }
    t.out
}

fn excepted(what: &str) -> bool {
    EXCEPTIONS.iter().any(|(w, _)| what.ends_with(w))
}

fn relative(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn files_and_functions_are_small_and_files_import_one_way() {
    let breaches = breaches(&crate_roots());
    for b in &breaches {
        println!("{b}");
    }
    assert!(
        breaches.is_empty(),
        "{} breaches (listed above)",
        breaches.len()
    );
}

/// The checker on a crate made to break each rule once, and to keep it where it only looks
/// broken: a `pub(super)` item, a parent's re-export used by a sibling, a test module.
#[test]
fn the_checker_finds_each_kind_of_breach_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("structure-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("shop")).unwrap();
    let long_body = "    let _ = 1;\n".repeat(60);
    let files = [
        (
            "lib.rs",
            "mod a;\nmod b;\nmod shop;\nmod big;\npub use a::A;\n".to_string(),
        ),
        (
            "a.rs",
            "use crate::b::B;\npub struct A(pub B);\n".to_string(),
        ),
        (
            "b.rs",
            "pub struct B;\npub fn f(_: crate::a::A) {}\n".to_string(),
        ),
        (
            "shop/mod.rs",
            "mod cart;\npub(super) struct Shop;\n".to_string(),
        ),
        (
            "shop/cart.rs",
            format!("use crate::A;\npub(super) fn long() {{\n{long_body}}}\n"),
        ),
        (
            "big.rs",
            format!(
                "{}#[cfg(test)]\nmod tests {{\n    fn long() {{\n{long_body}    }}\n}}\n",
                "// filler\n".repeat(300)
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(src.join(name), text).unwrap();
    }
    let found = breaches(&[Root { src, layers: None }]);
    std::fs::remove_dir_all(&dir).ok();
    let kinds: Vec<&str> = found
        .iter()
        .map(|b| b.split([':', '\n']).next().unwrap_or(""))
        .collect();
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(
        found.iter().any(|b| b.starts_with("folder loop: a <-> b")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|b| b.ends_with("big.rs: 365 lines (max 300)")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|b| b.contains("cart.rs:long: fn of 62 lines")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|b| b.starts_with("import cycle")
            && b.contains("a.rs <-> ")
            && b.contains("b.rs")),
        "{kinds:?} {found:#?}"
    );
}

/// The layer rules on a crate made to break each once: an import up a layer, a loop between
/// two folders of one layer made through a re-export (no file loop, so only the folder rule
/// sees it), a folder in no layer, a declared folder that does not exist; and an import down
/// a layer, which is allowed.
#[test]
fn the_checker_finds_upward_imports_and_folder_loops() {
    let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
    let src = dir.join("src");
    for folder in ["top", "mid", "side", "low", "stray"] {
        std::fs::create_dir_all(src.join(folder)).unwrap();
    }
    let files = [
        (
            "lib.rs",
            "mod top;\nmod mid;\nmod side;\nmod low;\nmod stray;\n",
        ),
        ("top/mod.rs", "pub struct T(pub crate::mid::M);\n"),
        ("mid/mod.rs", "mod a;\nmod b;\npub use a::M;\n"),
        ("mid/a.rs", "pub struct M;\n"),
        ("mid/b.rs", "pub fn g(_: crate::side::S) {}\n"),
        ("side/mod.rs", "mod deep;\npub use deep::S;\n"),
        (
            "side/deep.rs",
            "pub struct S;\npub fn h(_: crate::mid::M) {}\n",
        ),
        ("low/mod.rs", "mod inner;\n"),
        ("low/inner.rs", "pub fn up(_: crate::top::T) {}\n"),
        ("stray/mod.rs", "pub struct Stray;\n"),
    ];
    for (name, text) in files {
        std::fs::write(src.join(name), text).unwrap();
    }
    let layers = parse_layers(
        "text\n```layers\nfeatures: top\ndomain:   mid side\nlow ghost\n```\n```layers\nstray\n```\n",
    );
    let found = breaches(&[Root {
        src,
        layers: Some(layers),
    }]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(found.len(), 4, "{found:#?}");
    let has = |what: &str| found.iter().any(|b| b.contains(what));
    assert!(has("low/inner.rs (low) -> "), "{found:#?}");
    assert!(has("folder loop: mid <-> side"), "{found:#?}");
    assert!(has("src/stray: in no layer"), "{found:#?}");
    assert!(has("layer folder ghost does not exist"), "{found:#?}");
}

/// Every breach of the rules in these crates, one line each (a cycle with its edges).
fn breaches(roots: &[Root]) -> Vec<String> {
    let mut breaches = Vec::new();
    for root in roots {
        let mut files = load(&root.src);
        // `src/bin/*.rs` are crates of their own: sizes count, imports are not of this crate.
        let (bins, lib): (Vec<_>, Vec<_>) = files
            .drain(..)
            .partition(|f| f.module.first().map(String::as_str) == Some("bin"));
        for f in lib.iter().chain(&bins).filter(|f| !f.test_only) {
            breaches.extend(size_breaches(f));
        }
        let graph = import_graph(&lib);
        for cycle in cycles(&graph) {
            breaches.push(format!(
                "import cycle: {}\n{}",
                cycle
                    .iter()
                    .map(|p| relative(Path::new(p)))
                    .collect::<Vec<_>>()
                    .join(" <-> "),
                edges_within(&graph, |a, b| cycle.contains(&graph.names[a])
                    && cycle.contains(&graph.names[b]))
                .join("\n")
            ));
        }
        let folders = folder_graph(&graph);
        for cycle in cycles(&folders) {
            breaches.push(format!(
                "folder loop: {}\n{}",
                cycle.join(" <-> "),
                edges_within(&graph, |a, b| {
                    let (fa, fb) = (&graph.folders[a], &graph.folders[b]);
                    fa != fb && cycle.contains(fa) && cycle.contains(fb)
                })
                .join("\n")
            ));
        }
        if let Some(layers) = &root.layers {
            let mut present: BTreeSet<String> = graph.folders.iter().cloned().collect();
            present.remove("");
            if !bins.is_empty() {
                present.insert("bin".into());
            }
            breaches.extend(layer_breaches(&graph, layers, &present));
        }
    }
    breaches
}

fn size_breaches(f: &SourceFile) -> Vec<String> {
    let mut breaches = Vec::new();
    let name = relative(&f.path);
    if f.lines > MAX_FILE_LINES && !excepted(&name) {
        breaches.push(format!("{name}: {} lines (max {MAX_FILE_LINES})", f.lines));
    }
    let mut long = LongFunctions::default();
    long.visit_file(&f.ast);
    for (func, lines) in long.0 {
        let what = format!("{name}:{func}");
        if !excepted(&what) {
            breaches.push(format!("{what}: fn of {lines} lines (max {MAX_FN_LINES})"));
        }
    }
    breaches
}

/// The file edges that `keep` keeps (those inside a cycle), to choose the one to cut.
fn edges_within(graph: &Graph, keep: impl Fn(usize, usize) -> bool) -> Vec<String> {
    let mut edges = Vec::new();
    for (&from, tos) in &graph.edges {
        for &to in tos {
            if keep(from, to) {
                edges.push(format!(
                    "    {} -> {}",
                    relative(Path::new(&graph.names[from])),
                    relative(Path::new(&graph.names[to]))
                ));
            }
        }
    }
    edges
}

/// The graph of top folders: an edge where any file of one uses a file of another. The
/// crate root (`lib.rs`, `main.rs`) only declares the folders, and takes no part.
fn folder_graph(files: &Graph) -> Graph {
    let names: Vec<String> = files
        .folders
        .iter()
        .filter(|f| !f.is_empty())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |f: &String| names.iter().position(|n| n == f);
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (&from, tos) in &files.edges {
        for &to in tos {
            let (a, b) = (&files.folders[from], &files.folders[to]);
            if let (Some(a), Some(b)) = (index(a), index(b))
                && a != b
            {
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    Graph {
        folders: names.clone(),
        names,
        edges,
    }
}

/// Every import from a folder to one in a higher layer, every folder in no layer, and every
/// declared folder that does not exist (so that the declaration cannot go stale).
fn layer_breaches(
    graph: &Graph,
    layers: &[Vec<String>],
    present: &BTreeSet<String>,
) -> Vec<String> {
    let rank = |folder: &str| layers.iter().position(|l| l.iter().any(|f| f == folder));
    let mut breaches = Vec::new();
    for folder in present {
        if rank(folder).is_none() {
            breaches.push(format!("src/{folder}: in no layer of {LAYERS_FILE}"));
        }
    }
    for folder in layers.iter().flatten() {
        if !present.contains(folder) {
            breaches.push(format!(
                "{LAYERS_FILE}: layer folder {folder} does not exist"
            ));
        }
    }
    for (&from, tos) in &graph.edges {
        for &to in tos {
            let (a, b) = (&graph.folders[from], &graph.folders[to]);
            if let (Some(ra), Some(rb)) = (rank(a), rank(b))
                && ra > rb
            {
                breaches.push(format!(
                    "upward import: {} ({a}) -> {} ({b})",
                    relative(Path::new(&graph.names[from])),
                    relative(Path::new(&graph.names[to]))
                ));
            }
        }
    }
    breaches
}
