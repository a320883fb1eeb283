//! `Sandbox`: the configured roots and every file operation on them.
//!
//! Client input becomes a `Loc` (root + `RelPath`) in `locate`, which refuses anything outside the
//! roots (and outside the client's roots, when the client narrowed them). Operations then resolve
//! symlinks inside the root and reach files only through the root's cap-std `Dir`. Everything here
//! is synchronous; the server calls it inside `spawn_blocking`. This module must not import rmcp,
//! `server`, `db` or `watch`.

pub(crate) mod edit;
pub mod error;
pub(crate) mod filter;
pub(crate) mod lines;
pub(crate) mod listing;
pub mod path;
pub mod platform;
pub(crate) mod prefetch;
pub mod read;
pub mod root;
pub(crate) mod search;
pub(crate) mod temp;
pub(crate) mod walk;
pub(crate) mod write;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

pub use error::{Error, Result};
use path::{PathInput, RelPath, parse_input};
use root::{Mode, Resolved, Root, host_components};

/// Largest file `read_text_file` returns whole, and the most text one read returns.
pub(crate) const DEFAULT_MAX_READ_BYTES: u64 = 1024 * 1024;
/// Largest file `read_media_file` and binary resource reads return.
pub(crate) const DEFAULT_MAX_MEDIA_BYTES: u64 = 10 * 1024 * 1024;
/// Largest file `edit_file` rewrites (it holds the file in memory to apply edits).
pub(crate) const DEFAULT_MAX_EDIT_BYTES: u64 = 16 * 1024 * 1024;
/// Most entries a listing, search or tree returns, and most matches a grep returns.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 2000;
/// Bytes of one grep line returned; the rest of a longer line is cut with a marker.
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 1000;
/// Most bytes of text a listing, search, tree, grep or multi-file read returns.
pub(crate) const DEFAULT_MAX_RESULT_BYTES: usize = 1024 * 1024;

/// How long a walk (tree, search, grep, a resource page) may run before it stops with what it
/// found.
pub(crate) const DEFAULT_TOOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Largest compiled regular expression for grep, and largest search cache per grep thread.
pub(crate) const DEFAULT_MAX_REGEX_BYTES: usize = 4 * 1024 * 1024;

/// The sandbox's size and count limits. Each has a `DEFAULT_*` constant and a command-line flag.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// `--max-read-bytes`: whole-file text reads and text resources.
    pub(crate) max_read_bytes: u64,
    /// `--max-media-bytes`: media reads and binary resources.
    pub(crate) max_media_bytes: u64,
    /// `--max-edit-bytes`: files `edit_file` may rewrite.
    pub(crate) max_edit_bytes: u64,
    /// `--max-entries`: entries per listing, search or tree; matches per grep.
    pub(crate) max_entries: usize,
    /// `--max-result-bytes`: text of one listing, search, tree, grep or multi-file read.
    pub(crate) max_result_bytes: usize,
    /// `--max-line-bytes`: text of one grep line.
    pub(crate) max_line_bytes: usize,
    /// `--tool-timeout`: how long one walk may run.
    pub(crate) tool_timeout: std::time::Duration,
    /// `--max-regex-bytes`: compiled size (and search cache) of a grep pattern.
    pub(crate) max_regex_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
            max_media_bytes: DEFAULT_MAX_MEDIA_BYTES,
            max_edit_bytes: DEFAULT_MAX_EDIT_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            max_regex_bytes: DEFAULT_MAX_REGEX_BYTES,
        }
    }
}

/// A location inside the sandbox: which root, and where below it. Only the sandbox makes these
/// (`Sandbox::locate`, resolution, walks), and code outside it can only narrow one to an ancestor
/// (`Loc::ancestor`), so a `Loc` is always a place the sandbox found inside a root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Index into `Sandbox::roots`.
    root: usize,
    /// The path below that root.
    rel: RelPath,
}

impl Loc {
    /// Which root (an index into `Sandbox::roots`).
    pub fn root(&self) -> usize {
        self.root
    }

    /// The path below the root.
    pub fn rel(&self) -> &RelPath {
        &self.rel
    }

    /// The directory `rel` of the same root, if it is this location or above it.
    pub(crate) fn ancestor(&self, rel: RelPath) -> Option<Loc> {
        self.rel.starts_with(&rel).then_some(Loc { root: self.root, rel })
    }

    /// Any location, for unit tests outside the sandbox.
    #[cfg(test)]
    pub(crate) fn for_test(root: usize, rel: RelPath) -> Loc {
        Loc { root, rel }
    }
}

/// An allowed directory as clients see it.
#[derive(Debug, Clone)]
pub(crate) struct AllowedDir {
    /// Client-visible absolute path.
    pub(crate) path: String,
    /// Whether write tools may change it.
    pub(crate) writable: bool,
}

/// A file the file tools must never change, though it lies inside a writable root: a configured
/// database or one of its journal files.
#[derive(Debug, Clone)]
pub(crate) struct ProtectedFile {
    loc: Loc,
    /// What it is, for messages: `the database "shop"`, `the write-ahead log of the database
    /// "shop"`.
    what: String,
    /// What to do instead.
    hint: &'static str,
}

/// The configured roots, the limits, and the client's narrowing (if any).
pub struct Sandbox {
    roots: Vec<Root>,
    limits: Limits,
    home: Option<Vec<String>>,
    protected: Vec<ProtectedFile>,
    /// `None`: every root whole. `Some`: only these subtrees (client roots, intersected).
    scopes: RwLock<Option<Arc<Vec<Loc>>>>,
    /// Where lines start in the large files read lately (`lines.rs`).
    lines: lines::LineIndex,
    /// `resources/list` walks paused between pages.
    listings: search::PausedListings,
}

impl Sandbox {
    /// A sandbox over `roots` (possibly none, when the server serves only databases). `home` is the user's home
    /// directory, used to expand `~` in client paths.
    pub(crate) fn new(roots: Vec<Root>, limits: Limits, home: Option<PathBuf>) -> Self {
        let home = home.as_deref().and_then(host_components);
        Sandbox {
            roots,
            limits,
            home,
            protected: Vec::new(),
            scopes: RwLock::new(None),
            lines: lines::LineIndex::default(),
            listings: search::PausedListings::default(),
        }
    }

    /// Protects a host file from the file tools: no write, edit, move, rename, copy onto or
    /// delete reaches it, nor a move or delete of a directory holding it. `what` names it in
    /// errors, `hint` says what to do instead. A path outside every root needs no protection
    /// (nothing reaches it) and is ignored.
    pub(crate) fn protect(
        &mut self,
        host_path: &std::path::Path,
        what: String,
        hint: &'static str,
    ) {
        if let Some(loc) = self.locate_host_path(host_path) {
            self.protected.push(ProtectedFile { loc, what, hint });
        }
    }

    /// Fails unless a file tool may replace, create or remove exactly `loc`: its root is
    /// writable, it is no protected file, and it is not below one (creating it would turn a
    /// protected name, such as a database's `-wal` that does not exist yet, into a directory).
    pub(crate) fn check_mutable(&self, loc: &Loc) -> Result<()> {
        self.check_writable(loc)?;
        let hit = |p: &&ProtectedFile| p.loc.root == loc.root && rel_within(&loc.rel, &p.loc.rel);
        if let Some(file) = self.protected.iter().find(hit) {
            let what = if file.loc == *loc {
                format!("is {}", file.what)
            } else {
                format!("is below \"{}\", {}", self.display(&file.loc), file.what)
            };
            return Err(Error::Protected { path: self.display(loc), what, hint: file.hint });
        }
        Ok(())
    }

    /// Checks a directory handle opened for a write in root `root`, by the handle itself: walking
    /// up from it (through `..` of the descriptor), it must reach its root's directory without
    /// passing through a read-only root's. This is what holds when another process swaps
    /// directories while the request runs: the handle checked is the handle written through.
    /// (Where the system cannot walk up from a handle, the strict, link-free opens that produced
    /// the handle are the guard.)
    pub(crate) fn check_write_handle(&self, root: usize, dir: &cap_std::fs::Dir) -> Result<()> {
        const MAX_LEVELS: usize = 4096;
        let Some(chain) = platform::ancestry(dir, MAX_LEVELS) else { return Ok(()) };
        let own = self.roots[root].id();
        for id in chain {
            if Some(id) == own {
                return Ok(());
            }
            if let Some(ro) =
                self.roots.iter().find(|r| r.mode() == Mode::ReadOnly && r.id() == Some(id))
            {
                return Err(Error::ReadOnly { root: ro.display().display().to_string() });
            }
        }
        let input = self.roots[root].display().display().to_string();
        Err(Error::Outside {
            input,
            reason: Some("the directory moved while it was being written"),
        })
    }

    /// `check_mutable` for `loc` and everything below it (a directory to move or delete): no
    /// protected file and no read-only root may lie inside.
    pub(crate) fn check_subtree_mutable(&self, loc: &Loc) -> Result<()> {
        self.check_mutable(loc)?;
        let inside = |other: &Loc| other.root == loc.root && rel_within(&other.rel, &loc.rel);
        if let Some(file) = self.protected.iter().find(|p| inside(&p.loc)) {
            return Err(Error::Protected {
                path: self.display(loc),
                what: format!("holds {} (\"{}\")", file.what, self.display(&file.loc)),
                hint: file.hint,
            });
        }
        // Both spellings of this location, against both spellings of each read-only root.
        let here = &self.roots[loc.root];
        let spellings: Vec<Vec<String>> = [here.display(), here.canonical()]
            .iter()
            .filter_map(|path| host_components(path))
            .map(|mut host| {
                host.extend(loc.rel.components().map(str::to_owned));
                host
            })
            .collect();
        for (idx, root) in self.roots.iter().enumerate() {
            if idx == loc.root || root.mode() != Mode::ReadOnly {
                continue;
            }
            let holds = spellings.iter().any(|host| {
                Root::lies_below(root.display(), host) || Root::lies_below(root.canonical(), host)
            });
            if holds {
                return Err(Error::Protected {
                    path: self.display(loc),
                    what: format!("holds the read-only root \"{}\"", root.display().display()),
                    hint: "a read-only root cannot be moved or deleted, nor anything holding it",
                });
            }
        }
        Ok(())
    }

    /// The configured roots, in command-line order.
    pub(crate) fn roots(&self) -> &[Root] {
        &self.roots
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The root of a location.
    pub(crate) fn root(&self, loc: &Loc) -> &Root {
        &self.roots[loc.root]
    }

    /// The client-visible absolute path of a location.
    pub(crate) fn display(&self, loc: &Loc) -> String {
        self.roots[loc.root].display_path(&loc.rel)
    }

    /// Turns client input (absolute, relative to the first root, `~/...`, or `file://`) into a
    /// location, without touching the disk. The innermost root containing the path wins, so a
    /// read-only root nested in a writable one stays read-only.
    ///
    /// Errors: `Outside` for every form that is or could be outside the allowed directories,
    /// `InvalidPath` for malformed input.
    pub(crate) fn locate(&self, input: &str) -> Result<Loc> {
        if self.roots.is_empty() {
            let reason = Some("this server allows no directories, only databases");
            return Err(Error::Outside { input: input.to_owned(), reason });
        }
        let parsed =
            parse_input(input, platform::SYNTAX).map_err(|e| Error::from_syntax(input, e))?;
        let outside = || Error::Outside { input: input.to_owned(), reason: None };
        let absolute: Vec<String> = match parsed {
            PathInput::Absolute(components) => components,
            PathInput::Relative(rel) => {
                let mut components =
                    host_components(self.roots[0].display()).ok_or_else(outside)?;
                components.extend(rel.components().map(str::to_owned));
                components
            }
            PathInput::Home(rest) => {
                let mut components = self.home.clone().ok_or_else(outside)?;
                components.extend(rest);
                components
            }
        };
        let loc = self.locate_host(&absolute).ok_or_else(outside)?;
        if !self.in_scope(&loc) {
            return Err(outside());
        }
        Ok(loc)
    }

    /// Resolves a located path's symlinks inside its root (see `Root::resolve`) and re-checks the
    /// result against nested roots and the client's scope.
    pub(crate) fn resolve(
        &self,
        input: &str,
        loc: &Loc,
        follow_last: bool,
    ) -> Result<(Loc, Resolved)> {
        let resolved =
            self.roots[loc.root].resolve(&loc.rel, follow_last).map_err(|e| match e {
                Error::Outside { reason, .. } => Error::Outside { input: input.to_owned(), reason },
                other => other,
            })?;
        let mut host = host_components(self.roots[loc.root].display()).unwrap_or_default();
        host.extend(resolved.rel.components().map(str::to_owned));
        let new_loc = match self.locate_host(&host) {
            Some(inner) if inner.root != loc.root => inner,
            _ => Loc { root: loc.root, rel: resolved.rel.clone() },
        };
        if !self.in_scope(&new_loc) {
            return Err(Error::Outside { input: input.to_owned(), reason: None });
        }
        Ok((Loc { rel: new_loc.rel.clone(), ..new_loc }, Resolved { rel: new_loc.rel, ..resolved }))
    }

    /// `locate` followed by `resolve`.
    pub fn locate_resolved(&self, input: &str, follow_last: bool) -> Result<(Loc, Resolved)> {
        let loc = self.locate(input)?;
        self.resolve(input, &loc, follow_last)
    }

    /// Fails with `ReadOnly` unless the location's root allows writes.
    pub(crate) fn check_writable(&self, loc: &Loc) -> Result<()> {
        let root = &self.roots[loc.root];
        match root.mode() {
            Mode::Writable => Ok(()),
            Mode::ReadOnly => Err(Error::ReadOnly { root: root.display().display().to_string() }),
        }
    }

    /// The directories clients may use: the roots, or their intersection with the client's roots.
    pub(crate) fn allowed(&self) -> Vec<AllowedDir> {
        let make = |loc: &Loc| {
            let root = &self.roots[loc.root];
            AllowedDir {
                path: root.display_path(&loc.rel),
                writable: root.mode() == Mode::Writable,
            }
        };
        match self.scopes() {
            None => (0..self.roots.len())
                .map(|root| make(&Loc { root, rel: RelPath::root() }))
                .collect(),
            Some(scopes) => scopes.iter().map(make).collect(),
        }
    }

    /// The subtrees a walk over "everything" covers: each root, or each client scope.
    pub(crate) fn scope_starts(&self) -> Vec<Loc> {
        match self.scopes() {
            None => (0..self.roots.len()).map(|root| Loc { root, rel: RelPath::root() }).collect(),
            Some(scopes) => scopes.as_ref().clone(),
        }
    }

    /// Narrows the sandbox to the client's roots (MCP roots feature), never widening it: a client
    /// root inside a configured root narrows to that subtree, one containing a configured root
    /// keeps that root whole, and one unrelated to every root adds nothing. `None` removes the
    /// narrowing. Returns the client roots that matched nothing, for a warning.
    pub(crate) fn set_client_roots(&self, client_roots: Option<&[String]>) -> Vec<String> {
        // A listing paused under the old roots never goes on under the new ones.
        self.listings.clear();
        let Some(client_roots) = client_roots else {
            *self.scopes.write().unwrap_or_else(|e| e.into_inner()) = None;
            return Vec::new();
        };
        let mut scopes: Vec<Loc> = Vec::new();
        let mut unmatched = Vec::new();
        for input in client_roots {
            let absolute = match parse_input(input, platform::SYNTAX) {
                Ok(PathInput::Absolute(components)) => components,
                _ => {
                    unmatched.push(input.clone());
                    continue;
                }
            };
            let mut matched = false;
            if let Some(loc) = self.locate_host(&absolute) {
                scopes.push(loc);
                matched = true;
            }
            for (idx, root) in self.roots.iter().enumerate() {
                if Root::lies_below(root.display(), &absolute) {
                    scopes.push(Loc { root: idx, rel: RelPath::root() });
                    matched = true;
                }
            }
            if !matched {
                unmatched.push(input.clone());
            }
        }
        scopes.sort_by(|a, b| a.root.cmp(&b.root).then_with(|| a.rel.cmp_components(&b.rel)));
        scopes.dedup();
        // Drop scopes already covered by another scope in the same root.
        let covered: Vec<Loc> = scopes
            .iter()
            .filter(|s| {
                !scopes.iter().any(|o| o != *s && o.root == s.root && rel_within(&s.rel, &o.rel))
            })
            .cloned()
            .collect();
        *self.scopes.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(covered));
        unmatched
    }

    fn scopes(&self) -> Option<Arc<Vec<Loc>>> {
        self.scopes.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a location is inside the client's roots (always, without client roots).
    pub(crate) fn in_scope(&self, loc: &Loc) -> bool {
        match self.scopes() {
            None => true,
            Some(scopes) => {
                scopes.iter().any(|s| s.root == loc.root && rel_within(&loc.rel, &s.rel))
            }
        }
    }

    /// The innermost root containing an absolute host path, ignoring the client's narrowing: maps
    /// file watcher events back to locations. `None` outside every root or for a non-UTF-8 path.
    pub(crate) fn locate_host_path(&self, path: &std::path::Path) -> Option<Loc> {
        self.locate_host(&host_components(path)?)
    }

    /// The innermost root containing an absolute host path (given as components).
    fn locate_host(&self, absolute: &[String]) -> Option<Loc> {
        let mut best: Option<(usize, &[String])> = None;
        for (idx, root) in self.roots.iter().enumerate() {
            if let Some(rest) = root.strip_host_prefix(absolute)
                && best.is_none_or(|(_, r)| rest.len() < r.len())
            {
                best = Some((idx, rest));
            }
        }
        let (root, rest) = best?;
        Some(Loc { root, rel: RelPath::from_components(rest.iter().map(String::as_str)) })
    }
}

/// Whether `path` is `base` or lies below it, names compared as the file system compares them
/// (case-insensitively on Windows and macOS).
fn rel_within(path: &RelPath, base: &RelPath) -> bool {
    let path: Vec<String> = path.components().map(str::to_owned).collect();
    let base: Vec<String> = base.components().map(str::to_owned).collect();
    platform::components_start_with(&path, &base)
}
