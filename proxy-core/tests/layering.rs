//! proxy-core's modules form no cycle: between two sibling modules (`server` and `config`,
//! `redaction::json` and `redaction::values`) references go one way only. A child may use
//! its ancestors (that is what `super::` is for); siblings may not use each other both ways,
//! directly or around a loop.
//!
//! References are read from the source text: `crate::a::b`, `crate::{a, b::c}` and
//! `super::x` outside comments and outside unit tests (`#[cfg(test)] mod …` and the files of
//! `tests/` directories), resolved to the longest module path that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Module path → source text, for every library file under `src`.
fn sources(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("source directory") {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" && name != "fuzz_bridge" {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs") && !is_test_file(&name) {
                let text = std::fs::read_to_string(&path).expect("source file");
                out.insert(module_of(src, &path), text);
            }
        }
    }
    out
}

fn is_test_file(name: &str) -> bool {
    name == "tests.rs" || name.ends_with("_tests.rs") || name == "fuzz_bridge.rs"
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel: PathBuf = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text before the first unit-test module, without `//` comments.
fn library_text(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths `text` (the file of `module`) names, relative to the crate root.
fn references(module: &Module, text: &str) -> Vec<Module> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = text;
    let next = |s: &str| match (s.find("crate::"), s.find("super::")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    while let Some(i) = next(rest) {
        let (head, tail) = rest[i..].split_at(7);
        let mut base: Module = Vec::new();
        let mut tail = tail;
        if head == "super::" {
            let mut up = 1;
            while let Some(t) = tail.strip_prefix("super::") {
                up += 1;
                tail = t;
            }
            base = module[..module.len().saturating_sub(up)].to_vec();
        }
        if let Some(group) = tail.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                out.push(join(&base, item));
            }
        } else {
            let end = tail.find(|c| !ident(c)).unwrap_or(tail.len());
            out.push(join(&base, tail[..end].trim_end_matches(':')));
        }
        rest = &rest[i + 7..];
    }
    out
}

fn join(base: &Module, path: &str) -> Module {
    let mut m = base.clone();
    m.extend(path.split("::").filter(|s| !s.is_empty()).map(String::from));
    m
}

/// Edges between siblings: `a::x → a::y` for a reference from `a::x::…` to `a::y::…`.
fn sibling_edges(files: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, text) in files {
        for path in references(from, &library_text(text)) {
            let Some(to) = (1..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|m| files.contains_key(m))
            else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < to.len() {
                let a = from[..=common].to_vec();
                edges.entry(a).or_default().insert(to[..=common].to_vec());
            }
        }
    }
    edges
}

/// One cycle, as the modules around it, if there is any.
fn a_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            return Some(path[i..].to_vec());
        }
        if !done.insert(m.clone()) {
            return None;
        }
        path.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

fn show(cycle: &[Module]) -> String {
    let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
    format!("{} -> {}", names.join(" -> "), names[0])
}

#[test]
fn proxy_core_has_no_module_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src);
    assert!(files.len() > 50, "read {} files from {src:?}", files.len());
    let edges = sibling_edges(&files);
    if let Some(cycle) = a_cycle(&edges) {
        panic!("module cycle: {}", show(&cycle));
    }
}

#[test]
fn a_planted_cycle_is_found_and_a_child_using_its_parent_is_not_one() {
    let file = |m: &str, text: &str| (join(&Vec::new(), m), text.to_string());
    let mut files: BTreeMap<Module, String> = [
        file("", "mod a; mod b;"),
        file("a", "use crate::b::thing;\nmod inner;"),
        file(
            "a::inner",
            "use super::super::a::Parent; use crate::a::Parent;",
        ),
        file("b", "// crate::a::mentioned_in_a_comment\nfn f() {}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(a_cycle(&sibling_edges(&files)), None);
    files.insert(
        join(&Vec::new(), "b"),
        "use crate::{a::inner::X, c};".into(),
    );
    let cycle = a_cycle(&sibling_edges(&files)).expect("a ↔ b");
    assert_eq!(show(&cycle), "a -> b -> a");
}
