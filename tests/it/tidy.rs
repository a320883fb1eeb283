//! Tidy: the layering rules of ARCHITECTURE.md, checked on the source text in the manner of
//! rust-analyzer's tidy tests, so that they stay true without anyone remembering them:
//! - only `server/` imports rmcp;
//! - the cores (`sandbox`, `db`, `watch`) import neither `server`, `config` nor `cli`, and `db`
//!   imports nothing else of the crate;
//! - no two modules import each other, directly or around a longer cycle;
//! - the host file system is reached by name (`std::fs`, cap-std's ambient authority, the
//!   working or home directory) only in `config/`, the platform seam, where SQLite itself
//!   opens databases by path, and `hosts/` (the `config` subcommand edits a host's file);
//! - every file opens with a `//!` comment and stays within 600 lines;
//! - ARCHITECTURE.md's codemap names every module, and only modules that exist.
//!
//! Test modules (`#[cfg(test)] mod tests`, inline or in a `tests.rs`) and comments are left out
//! of the import checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a source file may be.
const MAX_LINES: usize = 600;

/// The modules that are plain Rust: no MCP, no configuration.
const CORES: &[&str] = &["sandbox", "db", "watch"];

/// Where the host file system may be reached by name, and why.
const AMBIENT_ALLOWED: &[(&str, &str)] = &[
    ("src/config/", "opens the configured roots and reads the config file"),
    ("src/sandbox/platform/", "the platform seam"),
    ("src/db/mod.rs", "SQLite opens databases by path; their identity is read by that path"),
    ("src/hosts/", "`config --host` reads and writes a host's own config file, never a root"),
    ("src/journal/", "the change journal lives in its state directory, outside every root"),
];

/// What reaching the host file system by name looks like.
const AMBIENT_MARKERS: &[&str] =
    &["std::fs", "ambient_authority", "open_ambient", "std::env::current_dir", "home_dir("];

struct Source {
    /// Repository-relative, with `/`.
    path: String,
    /// The module path: `["server", "tools", "files"]` for `src/server/tools/files/mod.rs`.
    module: Vec<String>,
    /// The whole text.
    text: String,
    /// The code without test modules and comments.
    code: String,
}

fn sources() -> Vec<Source> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&manifest.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(manifest).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            // A test module in a file of its own (`#[cfg(test)] mod tests;`) is all test code.
            let code = if rel.ends_with("/tests.rs") { String::new() } else { code_of(&text) };
            Source { module: module_of(&rel), path: rel, text, code }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `["a", "b"]`; `src/lib.rs` is the crate root.
fn module_of(rel: &str) -> Vec<String> {
    let inner = rel.strip_prefix("src/").unwrap().strip_suffix(".rs").unwrap();
    let mut parts: Vec<String> = inner.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The text without `#[cfg(test)] mod tests { ... }` and without comments.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    let mut skip_depth: Option<i64> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(depth) = skip_depth.as_mut() {
            *depth += braces(line);
            if *depth <= 0 {
                skip_depth = None;
            }
            continue;
        }
        if trimmed == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            let header = lines.next().unwrap_or_default();
            skip_depth = Some(braces(header)).filter(|d| *d > 0);
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let without_comment = match line.find(" // ") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

fn braces(line: &str) -> i64 {
    line.chars().map(|c| i64::from(c == '{') - i64::from(c == '}')).sum()
}

/// Every crate-internal path this code names (`crate::a::b`, `super::c`, `self::d`, grouped
/// imports expanded), as module paths from the crate root.
fn imports(source: &Source) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = source.code.as_bytes();
    // The module `super` and `self` are relative to: a file's own module.
    let own = &source.module;
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", own[..own.len().saturating_sub(1)].to_vec()),
        ("self::", own.clone()),
    ] {
        let mut from = 0;
        while let Some(at) = source.code[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            let before = start.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
                continue;
            }
            paths_at(&source.code[from..], &base, &mut found);
        }
    }
    found
}

/// The paths starting at `text` (just after `crate::`), relative to `base`: one, or several for
/// a `{...}` group.
fn paths_at(text: &str, base: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = base.to_vec();
    let mut rest = text;
    loop {
        let ident: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if ident.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                for item in split_group(group) {
                    paths_at(item.trim(), &path, out);
                }
                return;
            }
            break;
        }
        rest = &rest[ident.len()..];
        if ident != "self" {
            path.push(ident);
        }
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out.push(path);
}

/// The top-level items of a `{a, b::{c, d}, e}` group (the text after `{`).
fn split_group(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The longest known module that `path` names (an item path ends in a type or function).
fn module_named(path: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains(m)).unwrap()
}

/// Module dependencies as edges between siblings: an import from `server::tools::sql` of
/// `server::render::sql` is the edge `tools → render` under `server`. A module naming its own
/// parent or child is how Rust modules are built, not a layering edge.
fn sibling_edges(sources: &[Source]) -> BTreeMap<(Vec<String>, String, String), String> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut edges = BTreeMap::new();
    for source in sources.iter().filter(|s| s.path != "src/main.rs") {
        for path in imports(source) {
            let to = module_named(&path, &modules);
            let from = &source.module;
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue;
            }
            let key = (from[..common].to_vec(), from[common].clone(), to[common].clone());
            edges
                .entry(key)
                .or_insert_with(|| format!("{} names {}", source.path, path.join("::")));
        }
    }
    edges
}

#[test]
fn only_the_server_imports_rmcp() {
    let offenders: Vec<String> = sources()
        .iter()
        .filter(|s| s.module.first().is_none_or(|m| m != "server") && s.path != "src/main.rs")
        .filter(|s| s.code.contains("rmcp::") || s.code.contains("use rmcp"))
        .map(|s| s.path.clone())
        .collect();
    assert!(offenders.is_empty(), "rmcp is imported outside src/server/: {offenders:?}");
}

#[test]
fn the_cores_import_neither_the_server_nor_the_configuration() {
    let mut offenders = Vec::new();
    for source in sources() {
        let Some(top) = source.module.first().filter(|m| CORES.contains(&m.as_str())) else {
            continue;
        };
        for path in imports(&source) {
            let Some(first) = path.first() else { continue };
            let forbidden = ["server", "config", "cli"].contains(&first.as_str())
                || (top == "db" && first != "db");
            if forbidden {
                offenders.push(format!("{} imports crate::{}", source.path, path.join("::")));
            }
        }
    }
    assert!(offenders.is_empty(), "a core module imports what it must not:\n{offenders:#?}");
}

#[test]
fn no_two_modules_import_each_other() {
    let sources = sources();
    let edges = sibling_edges(&sources);
    let mut graph: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (parent, from, to) in edges.keys() {
        graph.entry((parent.clone(), from.clone())).or_default().push(to.clone());
    }
    // Depth-first search for a back edge, per parent module.
    let mut cycles = Vec::new();
    for (parent, start) in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, trail)) = stack.pop() {
            for next in graph.get(&(parent.clone(), node.clone())).into_iter().flatten() {
                if next == start {
                    let mut cycle = trail.clone();
                    cycle.push(next.clone());
                    let why: Vec<&String> = cycle
                        .windows(2)
                        .map(|w| &edges[&(parent.clone(), w[0].clone(), w[1].clone())])
                        .collect();
                    cycles.push(format!("in {:?}: {} ({why:?})", parent, cycle.join(" → ")));
                } else if !trail.contains(next) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{cycles:#?}");
}

#[test]
fn the_host_file_system_is_reached_by_name_only_where_allowed() {
    let mut offenders = Vec::new();
    for source in sources() {
        if AMBIENT_ALLOWED.iter().any(|(allowed, _)| source.path.starts_with(allowed)) {
            continue;
        }
        for marker in AMBIENT_MARKERS {
            if mentions(&source.code, marker) {
                offenders.push(format!("{} uses {marker}", source.path));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "host paths opened by name outside {AMBIENT_ALLOWED:?}:\n{offenders:#?}"
    );
}

/// Whether `code` names `marker` as a path of its own (`std::fs`, not `cap_std::fs`).
fn mentions(code: &str, marker: &str) -> bool {
    code.match_indices(marker).any(|(at, _)| {
        !code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    })
}

#[test]
fn every_file_says_what_it_is_and_stays_small() {
    let mut offenders = Vec::new();
    for source in sources() {
        if !source.text.starts_with("//!") {
            offenders.push(format!("{} does not open with a //! comment", source.path));
        }
        let lines = source.text.lines().count();
        if lines > MAX_LINES {
            offenders.push(format!("{} has {lines} lines (at most {MAX_LINES})", source.path));
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_import_reader_understands_groups_and_relative_paths() {
    let source = Source {
        path: "src/a/b.rs".into(),
        module: vec!["a".into(), "b".into()],
        text: String::new(),
        code: code_of(
            "use crate::{x::{y, z::W}, q};\nuse super::c::D;\n// use crate::hidden;\nfn f() { crate::p::f(); }\n#[cfg(test)]\nmod tests {\n    use crate::t;\n}\n",
        ),
    };
    let found: Vec<String> = imports(&source).iter().map(|p| p.join("::")).collect();
    assert_eq!(found, ["x::y", "x::z::W", "q", "p::f", "a::c::D"]);
    assert!(mentions("use std::fs;", "std::fs") && !mentions("use cap_std::fs;", "std::fs"));
}

#[test]
fn the_architecture_codemap_matches_the_tree() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(manifest.join("ARCHITECTURE.md")).unwrap();
    let sources = sources();
    let mut offenders = Vec::new();
    let tokens: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
    for source in &sources {
        // `src/a/b.rs` is named `b.rs` (or `a/b.rs`); `src/a/mod.rs` is named `a/`.
        let rel = source.path.strip_prefix("src/").unwrap();
        let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
        let name = if file == "mod.rs" {
            format!("{}/", dir.rsplit('/').next().unwrap())
        } else {
            file.to_owned()
        };
        let named = tokens.iter().any(|t| *t == name || t.ends_with(&format!("/{name}")));
        if !named {
            offenders.push(format!("{} is not in the codemap (as `{name}`)", source.path));
        }
    }
    let files: BTreeSet<&str> =
        sources.iter().map(|s| s.path.rsplit('/').next().unwrap()).collect();
    for named in tokens.iter().filter(|t| t.ends_with(".rs")) {
        let file = named.rsplit('/').next().unwrap();
        if !files.contains(file) && !named.starts_with("tests/") {
            offenders.push(format!("ARCHITECTURE.md names {named}, which is not in src/"));
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
