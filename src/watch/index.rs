//! What resources/list would list, kept up to date by the watcher so it can tell a new or deleted
//! file (`list_changed`) from a rewritten one (an update), whatever the event kinds say: an
//! editor's save by rename looks like a new file to the kernel.
//!
//! [`Index`] holds a 64-bit hash per listed file and per directory (with the set of its
//! children's hashes, so a removed directory removes its subtree exactly): about 30 bytes per
//! file, 3 MB for 100,000 files, instead of their paths. The hash is keyed per process, so
//! colliding names cannot be crafted in advance. What counts as listed is decided by
//! `sandbox::listing`, the same rule every walk and `resources/list` follow.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use crate::sandbox::Sandbox;
use crate::sandbox::listing::{Flow, is_hidden, walk_listed};
use crate::sandbox::path::RelPath;
use crate::sandbox::root::{Kind, Root};

/// The listed files and directories of the watched roots, by hash.
#[derive(Default)]
pub(crate) struct Index {
    keys: RandomState,
    files: HashSet<u64>,
    /// Directory → the hashes of its listed entries (files and directories).
    dirs: HashMap<u64, HashSet<u64>>,
}

impl Index {
    /// Indexes every listed file of these roots (a full walk each, with ignore rules).
    pub(crate) fn build(sandbox: &Sandbox, roots: &[usize]) -> Index {
        let mut index = Index::default();
        for &idx in roots {
            index.add_tree(&sandbox.roots()[idx], idx, &RelPath::root(), &mut Vec::new());
        }
        index
    }

    fn key(&self, root: usize, rel: &RelPath) -> u64 {
        self.keys.hash_one((root, rel.as_str()))
    }

    /// How many files are indexed.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether `rel` is an indexed directory.
    pub(crate) fn is_dir(&self, root: usize, rel: &RelPath) -> bool {
        self.dirs.contains_key(&self.key(root, rel))
    }

    /// Whether `rel` is a directory on disk now (not following a final symlink).
    pub(crate) fn stat_is_dir(root: &Root, rel: &RelPath) -> bool {
        root.dir().symlink_metadata(rel.as_path()).is_ok_and(|m| m.is_dir())
    }

    /// Brings the entry at `rel` (a listed path that was created, removed or renamed) up to date
    /// with the disk. A directory that is still a directory is re-read whole, since it may have
    /// been replaced (`rm -r d; mv new d`). Returns whether the set of listed files changed.
    pub(crate) fn apply(&mut self, root: &Root, idx: usize, rel: &RelPath) -> bool {
        let meta = root.dir().symlink_metadata(rel.as_path()).ok();
        let now_file = meta.as_ref().is_some_and(|m| Kind::of(m.file_type()) == Kind::File)
            && !rel.file_name().is_some_and(is_hidden);
        let now_dir = meta.as_ref().is_some_and(|m| m.is_dir());
        let k = self.key(idx, rel);
        let was_file = self.files.contains(&k);
        let was_dir = self.dirs.contains_key(&k);
        if now_dir && was_dir {
            return self.refresh(root, idx, rel);
        }
        let mut changed = false;
        if (was_file && !now_file) || (was_dir && !now_dir) {
            changed |= !self.remove(idx, rel).is_empty();
        }
        if now_file && !was_file {
            changed |= self.add_file(idx, rel);
        }
        if now_dir && !was_dir {
            let mut added = Vec::new();
            self.add_tree(root, idx, rel, &mut added);
            changed |= !added.is_empty();
        }
        changed
    }

    /// Re-reads the directory `rel` (its ignore rules or its contents changed); whether its set
    /// of listed files changed.
    pub(crate) fn refresh(&mut self, root: &Root, idx: usize, rel: &RelPath) -> bool {
        let mut before = self.remove(idx, rel);
        let mut after = Vec::new();
        if Self::stat_is_dir(root, rel) {
            self.add_tree(root, idx, rel, &mut after);
        }
        before.sort_unstable();
        after.sort_unstable();
        before != after
    }

    /// Adds the directory `rel` and everything listed below it; the files added go to `added`.
    fn add_tree(&mut self, root: &Root, idx: usize, rel: &RelPath, added: &mut Vec<u64>) {
        self.add_dir(idx, rel);
        let walked = walk_listed(root, rel, &mut |entry| {
            match entry.kind {
                Kind::File if self.add_file(idx, entry.rel) => {
                    added.push(self.key(idx, entry.rel));
                }
                Kind::Dir => self.add_dir(idx, entry.rel),
                _ => {}
            }
            Flow::Continue
        });
        if let Err(err) = walked {
            tracing::debug!(path = rel.as_str(), error = %err, "cannot index a directory");
        }
    }

    fn link(&mut self, idx: usize, rel: &RelPath, k: u64) {
        if let Some(parent) = rel.parent() {
            let parent = self.key(idx, &parent);
            self.dirs.entry(parent).or_default().insert(k);
        }
    }

    fn unlink(&mut self, idx: usize, rel: &RelPath, k: u64) {
        if let Some(parent) = rel.parent() {
            let parent = self.key(idx, &parent);
            if let Some(children) = self.dirs.get_mut(&parent) {
                children.remove(&k);
            }
        }
    }

    fn add_file(&mut self, idx: usize, rel: &RelPath) -> bool {
        let k = self.key(idx, rel);
        if !self.files.insert(k) {
            return false;
        }
        self.link(idx, rel, k);
        true
    }

    fn add_dir(&mut self, idx: usize, rel: &RelPath) {
        let k = self.key(idx, rel);
        if self.dirs.contains_key(&k) {
            return;
        }
        self.dirs.insert(k, HashSet::new());
        if !rel.is_root() {
            self.link(idx, rel, k);
        }
    }

    /// Removes `rel` (a file, or a directory with its subtree); returns the files removed.
    fn remove(&mut self, idx: usize, rel: &RelPath) -> Vec<u64> {
        let k = self.key(idx, rel);
        let mut removed = Vec::new();
        if self.files.remove(&k) {
            removed.push(k);
        }
        let mut todo: Vec<u64> = self.dirs.remove(&k).unwrap_or_default().into_iter().collect();
        self.unlink(idx, rel, k);
        while let Some(child) = todo.pop() {
            if self.files.remove(&child) {
                removed.push(child);
            }
            if let Some(grandchildren) = self.dirs.remove(&child) {
                todo.extend(grandchildren);
            }
        }
        removed
    }
}
