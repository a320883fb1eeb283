//! What a listing shows, for the code outside the sandbox: `resources/list`, every walk (tree,
//! search, grep) and the watcher's `list_changed` all follow the one rule of `sandbox::filter`
//! (hidden temporary files, `.git`, ignore files), so they cannot drift apart:
//! - [`walk_listed`] walks what a listing shows;
//! - [`Visibility`] answers "would a walk list this path?" for one path outside a walk (the
//!   watcher), from the same rule files, caching each directory's rules;
//! - [`is_hidden`] says which names no listing ever shows.
//!
//! Imports only `sandbox::{path, root, filter, walk}`.

use std::collections::HashMap;
use std::io;

pub(crate) use crate::sandbox::filter::is_hidden;
use crate::sandbox::filter::{IgnoreStack, excluded, rule_files};
use crate::sandbox::path::RelPath;
use crate::sandbox::root::Root;
pub(crate) use crate::sandbox::walk::{Entry, Flow, WalkStats};
use crate::sandbox::walk::{WalkOptions, walk};

/// Directories whose ignore rules [`Visibility`] caches at most; the cache starts over beyond it.
const MAX_CACHED_DIRS: usize = 4096;

/// Walks what a listing shows below the directory `start`, ignore rules applied, calling `visit`
/// for each entry in walk order (see `walk::walk`).
pub(crate) fn walk_listed(
    root: &Root,
    start: &RelPath,
    visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
) -> io::Result<WalkStats> {
    let options = WalkOptions { respect_ignore: true, ..WalkOptions::default() };
    walk(root, start, &options, visit)
}

/// "Would a walk list this path?", with each directory's ignore rules cached.
#[derive(Default)]
pub(crate) struct Visibility {
    cache: HashMap<(usize, RelPath), (IgnoreStack, bool)>,
}

impl Visibility {
    /// Forgets every cached rule (an ignore file changed).
    pub(crate) fn clear(&mut self) {
        self.cache.clear();
    }

    /// Whether resources/list would list `rel` (or enter it, for a directory): not `.git` or
    /// below it, not a temporary file of ours, and not excluded by an ignore file in any
    /// directory from the root down.
    pub(crate) fn is_listed(
        &mut self,
        root: &Root,
        idx: usize,
        rel: &RelPath,
        is_dir: bool,
    ) -> bool {
        let Some(parent) = rel.parent() else { return true };
        let name = rel.file_name().unwrap_or_default();
        if is_hidden(name) {
            return false;
        }
        let (stack, ignored) = self.dir(root, idx, &parent);
        !ignored && !excluded(&stack, rel, is_dir)
    }

    /// The rules in effect inside `dir`, and whether `dir` itself is excluded.
    fn dir(&mut self, root: &Root, idx: usize, dir: &RelPath) -> (IgnoreStack, bool) {
        if let Some(found) = self.cache.get(&(idx, dir.clone())) {
            return found.clone();
        }
        let value = match dir.parent() {
            None => (IgnoreStack::default().enter(root, dir, &rule_files(root, dir)), false),
            Some(parent) => {
                let (stack, ignored) = self.dir(root, idx, &parent);
                if ignored || excluded(&stack, dir, true) {
                    (stack, true)
                } else {
                    (stack.enter(root, dir, &rule_files(root, dir)), false)
                }
            }
        };
        if self.cache.len() >= MAX_CACHED_DIRS {
            self.cache.clear();
        }
        self.cache.insert((idx, dir.clone()), value.clone());
        value
    }
}
