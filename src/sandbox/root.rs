//! `Root`: one allowed directory, its mode, and the open cap-std `Dir` through which every access to
//! it goes; and `Root::resolve`, which follows symlinks only while they stay inside this root.
//!
//! Two layers keep accesses inside: `resolve` gives paths their meaning (symlinks inside the root
//! work, including absolute ones that point back in; anything leading out is refused with a clear
//! error), and cap-std's `RESOLVE_BENEATH` opens enforce the boundary against races, such as a
//! directory swapped for a symlink between `resolve` and the open. Imports only `sandbox::{path,
//! error}`.

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{Dir, File, Metadata, OpenOptions};

use crate::sandbox::error::{Error, Result};
use crate::sandbox::path::{RelPath, is_plain_component};
use crate::sandbox::platform;

pub(crate) use crate::sandbox::platform::Kind;

/// How many symlinks one resolution may follow before it is declared a loop (Linux uses 40).
pub(crate) const MAX_SYMLINK_HOPS: usize = 40;

/// Whether the tools may change files under a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read tools only; every write tool is refused with a hint.
    ReadOnly,
    /// Read and write tools.
    Writable,
}

/// One allowed directory. Created once at start-up by `config.rs`, which is the only code that
/// opens host paths by name.
#[derive(Debug)]
pub(crate) struct Root {
    /// The absolute path as the user gave it (lexically normalized), shown to clients.
    display: PathBuf,
    /// The same directory with symlinks resolved, so absolute paths and symlink targets that
    /// spell it either way are recognized.
    canonical: PathBuf,
    mode: Mode,
    dir: Dir,
    /// Which directory the handle is, when the system says: checked against handles opened
    /// later, so a path that now leads elsewhere cannot pass for this root.
    id: Option<platform::FileId>,
}

/// The result of resolving a `RelPath` inside a root.
#[derive(Debug)]
pub struct Resolved {
    /// The path with every symlink replaced by its target: its first `existing` components exist
    /// and are real directories (or, for the last one, any kind of entry).
    pub(crate) rel: RelPath,
    /// How many leading components of `rel` exist.
    pub existing: usize,
    /// The entry's metadata (not following a final symlink if it was not followed), or `None` if
    /// it does not exist.
    pub(crate) meta: Option<Metadata>,
}

impl Root {
    /// Wraps an opened directory. `display` and `canonical` must be absolute.
    pub(crate) fn new(display: PathBuf, canonical: PathBuf, mode: Mode, dir: Dir) -> Self {
        let id = dir.dir_metadata().ok().and_then(|m| platform::file_id(&m));
        Root { display, canonical, mode, dir, id }
    }

    /// Which directory the root's handle is, where the system says.
    pub(crate) fn id(&self) -> Option<platform::FileId> {
        self.id
    }

    /// Opens the directory `rel` (already resolved: it names no symlink) one component at a time
    /// from the root's handle, following no symlink and no junction. A component that became a
    /// link since `rel` was resolved (a swap racing the request) makes the open fail instead of
    /// leading elsewhere, so the handle returned is the directory `rel` spells.
    pub(crate) fn open_dir_strict(&self, rel: &RelPath) -> io::Result<Dir> {
        let mut dir = self.dir.try_clone()?;
        for component in rel.components() {
            dir = dir.open_dir_nofollow(component)?;
        }
        Ok(dir)
    }

    /// `open_dir_strict`, creating the directories that are missing. `verify` is called on the
    /// deepest existing directory before anything is created in it, and on the result.
    pub(crate) fn create_dir_strict(
        &self,
        rel: &RelPath,
        verify: &dyn Fn(&Dir) -> Result<()>,
        shown: &dyn Fn(&RelPath) -> String,
    ) -> Result<Dir> {
        let mut dir = self.dir.try_clone().map_err(|e| Error::io("opening", &shown(rel), e))?;
        let mut verified = false;
        let mut done: Vec<&str> = Vec::new();
        for component in rel.components() {
            done.push(component);
            let here = || RelPath::from_components(done.iter().copied());
            dir = match dir.open_dir_nofollow(component) {
                Ok(next) => next,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !verified {
                        verify(&dir)?;
                        verified = true;
                    }
                    match dir.create_dir(component) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Error::io("creating directory", &shown(&here()), e)),
                    }
                    dir.open_dir_nofollow(component)
                        .map_err(|e| Error::io("opening directory", &shown(&here()), e))?
                }
                Err(e) => return Err(Error::io("opening directory", &shown(&here()), e)),
            };
        }
        verify(&dir)?;
        Ok(dir)
    }

    /// The root's path as shown to clients.
    pub(crate) fn display(&self) -> &Path {
        &self.display
    }

    /// The root's path with symlinks resolved.
    pub(crate) fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// Whether writes are allowed.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// The capability handle; every access to this root goes through it.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The client-visible absolute path of `rel`, with the system's separator.
    pub(crate) fn display_path(&self, rel: &RelPath) -> String {
        let mut path = self.display.clone();
        path.extend(rel.components());
        path.to_string_lossy().into_owned()
    }

    /// If `host` (absolute, lexically normal, as components) spells a path inside this root, the
    /// components below the root. Both the displayed and the canonical spelling count.
    pub(crate) fn strip_host_prefix<'a>(&self, host: &'a [String]) -> Option<&'a [String]> {
        strip_components(host, &self.display).or_else(|| strip_components(host, &self.canonical))
    }

    /// Whether the host path `path` lies strictly below `host` (absolute, as components), names
    /// compared as the file system compares them.
    pub(crate) fn lies_below(path: &Path, host: &[String]) -> bool {
        host_components(path).is_some_and(|path| {
            path.len() > host.len() && platform::components_start_with(&path, host)
        })
    }

    /// Resolves `rel`, following symlinks (all of them, or all but the last when `follow_last` is
    /// false) as long as they stay inside this root; an absolute target that spells a path inside
    /// this root is followed too.
    ///
    /// A missing component ends resolution: the rest of `rel` is appended unchanged and `meta` is
    /// `None`, so create operations learn where to create.
    ///
    /// Errors: `Outside` for a symlink (even a dangling one) that leads out of the root,
    /// `SymlinkLoop` after `MAX_SYMLINK_HOPS`, `NotADirectory` when a middle component is a file.
    pub(crate) fn resolve(&self, rel: &RelPath, follow_last: bool) -> Result<Resolved> {
        let mut done: Vec<String> = Vec::with_capacity(rel.depth());
        let mut todo: Vec<String> = rel.components().rev().map(str::to_owned).collect();
        let mut hops = 0;
        let mut meta = Some(self.dir.dir_metadata().map_err(|e| self.io_err("reading", rel, e))?);
        while let Some(component) = todo.pop() {
            done.push(component);
            let current = RelPath::from_components(done.iter().map(String::as_str));
            let entry = match self.dir.symlink_metadata(current.as_path()) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let existing = done.len() - 1;
                    done.extend(todo.into_iter().rev());
                    let rel = RelPath::from_components(done.iter().map(String::as_str));
                    return Ok(Resolved { rel, existing, meta: None });
                }
                Err(e) => return Err(self.io_err("reading", &current, e)),
            };
            let is_last = todo.is_empty();
            if entry.file_type().is_symlink() && (follow_last || !is_last) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::SymlinkLoop { path: self.display_path(rel) });
                }
                let target = self
                    .dir
                    .read_link_contents(current.as_path())
                    .map_err(|e| self.io_err("reading link", &current, e))?;
                done.pop();
                self.splice_target(rel, &target, &mut done, &mut todo)?;
                if todo.is_empty() {
                    // The link pointed at the root itself (or at a directory already resolved).
                    let at = RelPath::from_components(done.iter().map(String::as_str));
                    let m = self
                        .dir
                        .metadata(at.as_path())
                        .map_err(|e| self.io_err("reading", &at, e))?;
                    return Ok(Resolved { existing: done.len(), rel: at, meta: Some(m) });
                }
                continue;
            }
            if !is_last && !entry.is_dir() {
                return Err(Error::NotADirectory { path: self.display_path(&current) });
            }
            meta = Some(entry);
        }
        let existing = done.len();
        Ok(Resolved {
            rel: RelPath::from_components(done.iter().map(String::as_str)),
            existing,
            meta,
        })
    }

    /// Replaces the symlink just popped from `done` by its `target`: an absolute target restarts
    /// from the root (it must spell a path inside it), `..` steps out of `done` (never above the
    /// root). The target's components are pushed onto `todo` to be resolved in turn.
    fn splice_target(
        &self,
        input: &RelPath,
        target: &Path,
        done: &mut Vec<String>,
        todo: &mut Vec<String>,
    ) -> Result<()> {
        let outside = || Error::Outside { input: self.display_path(input), reason: None };
        let mut components = Vec::new();
        let mut prefix = None;
        for c in target.components() {
            match c {
                Component::Normal(name) => components.push(utf8(name).ok_or_else(outside)?),
                Component::ParentDir => components.push("..".to_owned()),
                Component::CurDir => {}
                Component::RootDir => components.clear(),
                Component::Prefix(p) => {
                    prefix = Some(platform::prefix_token(p).ok_or_else(outside)?)
                }
            }
        }
        // A Windows target rooted on the current drive (`\x`) or relative to a drive (`C:x`)
        // depends on state outside the root: refused.
        if (target.has_root() || prefix.is_some()) && !target.is_absolute() {
            return Err(outside());
        }
        if target.is_absolute() {
            if let Some(prefix) = prefix {
                components.insert(0, prefix);
            }
            let inside = self.strip_host_prefix(&components).ok_or_else(outside)?.to_vec();
            // Anything after the root prefix may still contain `..`, handled below.
            done.clear();
            components = inside;
        }
        // Resolve `..` lexically against `done`, which holds only real directories, so this is
        // exactly what the kernel would do.
        let mut rest = Vec::new();
        for c in components {
            if c == ".." {
                if rest.pop().is_none() && done.pop().is_none() {
                    return Err(outside());
                }
            } else if is_plain_component(&c) {
                rest.push(c);
            } else {
                return Err(outside());
            }
        }
        todo.extend(rest.into_iter().rev());
        Ok(())
    }

    fn io_err(&self, op: &'static str, rel: &RelPath, e: io::Error) -> Error {
        Error::io(op, &self.display_path(rel), e)
    }
}

/// Opens `path` under `dir` for reading only if it is a regular file: `O_NOFOLLOW` (a raced-in
/// symlink is not followed) and `O_NONBLOCK` (a raced-in FIFO cannot block the thread), then an
/// `fstat` on the open handle decides. Anything but a regular file is `InvalidInput`.
pub(crate) fn open_regular_file(dir: &Dir, path: &std::path::Path) -> io::Result<(File, Metadata)> {
    let mut options = OpenOptions::new();
    options.read(true).follow(FollowSymlinks::No).nonblock(true);
    let file = dir.open_with(path, &options)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok((file, meta))
}

/// Lexically normalizes an absolute host path into components (`.` dropped, `..` applied). On
/// Windows the first component is the path's prefix (`C:`, `\\server\share`), spelled as client
/// paths are parsed (`platform::prefix_token`). Used at start-up for roots, for absolute client
/// paths already free of `..`, and for symlink targets. `None` for a non-UTF-8 path or a device
/// namespace.
pub(crate) fn host_components(path: &Path) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut prefix: Option<String> = None;
    for c in path.components() {
        match c {
            Component::Prefix(p) => prefix = Some(platform::prefix_token(p)?),
            Component::RootDir => out.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(utf8(name)?),
        }
    }
    if let Some(prefix) = prefix {
        out.insert(0, prefix);
    }
    Some(out)
}

/// The components of `host` below `prefix`, names compared as the file system compares them.
fn strip_components<'a>(host: &'a [String], prefix: &Path) -> Option<&'a [String]> {
    let prefix = host_components(prefix)?;
    platform::components_start_with(host, &prefix).then(|| &host[prefix.len()..])
}

fn utf8(name: &OsStr) -> Option<String> {
    name.to_str().map(str::to_owned)
}
