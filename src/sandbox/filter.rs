//! Visibility during walks: ignore files (`.gitignore`, `.ignore`, `.git/info/exclude`), the `.git`
//! directory, and the glob sets of `excludePatterns` and search patterns.
//!
//! Ignore files are read through the root's `Dir` as the walk reaches their directory, with the
//! `ignore` crate's own matcher and its precedence rules (`.ignore` over `.gitignore` over
//! `.git/info/exclude`, deeper files first within each). Files above a root are never read: the
//! sandbox does not look outside it.
//!
//! This is the one rule for what a listing shows ([`is_hidden`], [`excluded`], [`RULE_FILES`]):
//! walks apply it as they go, and `sandbox::listing` offers it to the watcher. Imports only
//! `sandbox::{path, root, temp, error}`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::sandbox::error::{Error, Result};
use crate::sandbox::path::RelPath;
use crate::sandbox::root::Root;

/// Ignore files larger than this are not read (a generated ignore file that big is a mistake, and
/// reading it would cost more than it saves).
pub(crate) const MAX_IGNORE_FILE_BYTES: u64 = 1024 * 1024;

/// The ignore rules in effect in one directory: its own ignore files plus its ancestors', up to the
/// directory where the walk started. Cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct IgnoreStack(Option<Arc<Level>>);

struct Level {
    dir: RelPath,
    dot_ignore: Option<Gitignore>,
    git_ignore: Option<Gitignore>,
    git_exclude: Option<Gitignore>,
    /// A `.git` here marks a repository boundary: `.gitignore` files above it do not apply.
    has_git: bool,
    parent: IgnoreStack,
}

/// Compiled `excludePatterns` or search patterns. A pattern without `/` matches an entry's name at
/// any depth (`*.log`, `node_modules`); a pattern with `/` matches the path relative to the
/// directory the walk started from (`src/**/*.rs`, `build/`).
#[derive(Debug, Clone)]
pub(crate) struct Globs {
    names: GlobSet,
    paths: GlobSet,
}

/// The files a directory's ignore rules come from (`.git` for `.git/info/exclude`, and as the
/// boundary of a repository).
pub(crate) const RULE_FILES: [&str; 3] = [".ignore", ".gitignore", ".git"];

/// Whether an entry named `name` is left out of every listing, ignore rules or not: one of the
/// server's temporary files (a write in flight, or one a killed server left).
pub(crate) fn is_hidden(name: &str) -> bool {
    crate::sandbox::temp::is_temp_name(name)
}

/// Whether the ignore rules in `stack` (those of `rel`'s parent) leave `rel` out: `.git` itself,
/// or a path an ignore file excludes.
pub(crate) fn excluded(stack: &IgnoreStack, rel: &RelPath, is_dir: bool) -> bool {
    rel.file_name() == Some(".git") || stack.is_ignored(rel, is_dir)
}

/// Which of [`RULE_FILES`] exist in `dir`.
pub(crate) fn rule_files(root: &Root, dir: &RelPath) -> Vec<&'static str> {
    RULE_FILES
        .into_iter()
        .filter(|n| dir.join(n).is_some_and(|p| root.dir().symlink_metadata(p.as_path()).is_ok()))
        .collect()
}

impl IgnoreStack {
    /// The rules for `dir`, given the names of its entries: reads `.ignore`, `.gitignore` and
    /// `.git/info/exclude` if they are among them. Unreadable or invalid ignore files are skipped
    /// (as git does); they never fail the walk.
    pub(crate) fn enter(&self, root: &Root, dir: &RelPath, names: &[&str]) -> IgnoreStack {
        let has = |n: &str| names.contains(&n);
        let (has_dot_ignore, has_gitignore, has_git) =
            (has(".ignore"), has(".gitignore"), has(".git"));
        if !has_dot_ignore && !has_gitignore && !has_git {
            return self.clone();
        }
        let load = |rel: Option<RelPath>| rel.and_then(|rel| read_gitignore(root, &rel));
        let exclude = || dir.join(".git")?.join("info")?.join("exclude");
        let level = Level {
            dir: dir.clone(),
            dot_ignore: if has_dot_ignore { load(dir.join(".ignore")) } else { None },
            git_ignore: if has_gitignore { load(dir.join(".gitignore")) } else { None },
            git_exclude: if has_git { load(exclude()) } else { None },
            has_git,
            parent: self.clone(),
        };
        IgnoreStack(Some(Arc::new(level)))
    }

    /// Whether `rel` (an entry directly inside the last entered directory) is ignored.
    pub(crate) fn is_ignored(&self, rel: &RelPath, is_dir: bool) -> bool {
        let (mut m_ignore, mut m_git, mut m_exclude) = (Match::None, Match::None, Match::None);
        let mut saw_git = false;
        let mut level = self.0.as_deref();
        while let Some(l) = level {
            let Some(below) = rel.strip_prefix(&l.dir) else { break };
            let path = below.as_path();
            if m_ignore.is_none() {
                m_ignore = matched(l.dot_ignore.as_ref(), path, is_dir);
            }
            if !saw_git && m_git.is_none() {
                m_git = matched(l.git_ignore.as_ref(), path, is_dir);
            }
            if !saw_git && m_exclude.is_none() {
                m_exclude = matched(l.git_exclude.as_ref(), path, is_dir);
            }
            saw_git |= l.has_git;
            level = l.parent.0.as_deref();
        }
        m_ignore.or(m_git).or(m_exclude).is_ignore()
    }
}

impl Globs {
    /// Compiles patterns; `what` names the argument in errors (`excludePatterns`, `pattern`).
    pub(crate) fn new(patterns: &[String], what: &'static str) -> Result<Option<Globs>> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let mut any = false;
        for raw in patterns {
            let pattern = raw.trim().trim_start_matches("./");
            let pattern = pattern.trim_end_matches('/');
            if pattern.is_empty() {
                continue;
            }
            any = true;
            let compile = |p: &str| {
                GlobBuilder::new(p).literal_separator(true).backslash_escape(true).build().map_err(
                    |e| Error::InvalidPattern {
                        what,
                        pattern: raw.clone(),
                        message: e.kind().to_string(),
                    },
                )
            };
            if pattern.contains('/') {
                let anchored = pattern.trim_start_matches('/');
                paths.add(compile(anchored)?);
                // `build/**` also matches `build` itself, so the walk prunes it instead of
                // visiting everything below only to drop it.
                if let Some(dir) = anchored.strip_suffix("/**") {
                    paths.add(compile(dir)?);
                }
            } else {
                names.add(compile(pattern)?);
            }
        }
        if !any {
            return Ok(None);
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| Error::InvalidPattern {
                what,
                pattern: patterns.join(", "),
                message: e.to_string(),
            })
        };
        Ok(Some(Globs { names: build(names)?, paths: build(paths)? }))
    }

    /// Whether an entry matches: `rel` is its path relative to the walk's start directory.
    pub(crate) fn is_match(&self, rel: &RelPath) -> bool {
        let name = rel.file_name().unwrap_or_default();
        self.names.is_match(name) || (!self.paths.is_empty() && self.paths.is_match(rel.as_str()))
    }
}

fn matched(gitignore: Option<&Gitignore>, path: &Path, is_dir: bool) -> Match<()> {
    match gitignore.map(|g| g.matched(path, is_dir)) {
        Some(Match::Ignore(_)) => Match::Ignore(()),
        Some(Match::Whitelist(_)) => Match::Whitelist(()),
        _ => Match::None,
    }
}

/// Reads and compiles one ignore file through the root's capability handle.
fn read_gitignore(root: &Root, rel: &RelPath) -> Option<Gitignore> {
    // Like every read: never following a symlink, never blocking on a FIFO named `.gitignore`
    // (that stopped every walk and the watcher's index).
    let (file, meta) = crate::sandbox::root::open_regular_file(root.dir(), rel.as_path()).ok()?;
    if meta.len() > MAX_IGNORE_FILE_BYTES {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_IGNORE_FILE_BYTES).read_to_string(&mut text).ok()?;
    // The matcher's root is ".", so paths are given relative to the ignore file's directory.
    let mut builder = GitignoreBuilder::new(".");
    for line in text.lines() {
        // A bad line is skipped, as git does, rather than discarding the whole file.
        let _ = builder.add_line(None, line);
    }
    builder.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(patterns: &[&str], path: &str, expected: bool) {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let globs = Globs::new(&patterns, "pattern").unwrap().unwrap();
        let rel = RelPath::parse(path).unwrap();
        assert_eq!(globs.is_match(&rel), expected, "{patterns:?} against {path:?}");
    }

    #[test]
    fn globs_table() {
        check(&["*.rs"], "main.rs", true);
        check(&["*.rs"], "src/deep/lib.rs", true);
        check(&["*.rs"], "src/lib.rsx", false);
        check(&["**/*.rs"], "main.rs", true);
        check(&["**/*.rs"], "src/a/b.rs", true);
        check(&["src/*.rs"], "src/a.rs", true);
        check(&["src/*.rs"], "src/a/b.rs", false);
        check(&["node_modules"], "web/node_modules", true);
        check(&["build/**"], "build", true);
        check(&["build/**"], "build/out/x.o", true);
        check(&["/build/"], "build", true);
        check(&["./docs/*.md"], "docs/a.md", true);
        check(&["*.{png,jpg}"], "img/logo.png", true);
        check(&["README*"], "sub/README.md", true);
    }

    #[test]
    fn empty_and_invalid_globs() {
        assert!(Globs::new(&["  ".to_owned()], "pattern").unwrap().is_none());
        let err = Globs::new(&["a[".to_owned()], "pattern").unwrap_err();
        assert!(err.to_string().starts_with("invalid pattern \"a[\""), "{err}");
    }
}
