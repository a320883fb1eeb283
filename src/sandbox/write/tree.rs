//! Directory trees: copying one, the record of one about to be removed, and putting a removed
//! one back (an undo), with what is at a path now (to settle a change whose server stopped in
//! the middle). Like every change, they go through the sandbox's checks.

use std::io::{self, Write};

use cap_std::fs::{Dir, OpenOptions};

use crate::sandbox::error::{Error, Result};
use crate::sandbox::path::RelPath;
use crate::sandbox::platform::{self, Kind};
use crate::sandbox::root::Resolved;
use crate::sandbox::walk::{Flow, WalkOptions, walk};
use crate::sandbox::write::atomic::retry_while_busy;
use crate::sandbox::write::record::{Change, Prior, Record, Removed, read_existing, read_prior};
use crate::sandbox::{Loc, Sandbox};

/// What one listed entry of a removed directory counts, besides its path, against the bounds:
/// about what it takes in memory and in the journal. The list is kept as one piece, so it stops
/// at `Record::max_file` bytes, and it shares `Record::max_total` with the contents kept.
const LISTED_ENTRY_BYTES: u64 = 256;

impl Sandbox {
    /// The directories above `loc` that do not exist yet (a write or move creates them),
    /// outermost first, as the client sees them.
    pub(super) fn missing_parents(&self, loc: &Loc, resolved: &Resolved) -> Vec<String> {
        (resolved.existing + 1..loc.rel.depth())
            .map(|depth| {
                let rel = RelPath::from_components(loc.rel.components().take(depth));
                self.display(&Loc { root: loc.root, rel })
            })
            .collect()
    }

    /// Copies the directory tree at `from` to the new directory `to`.
    pub(super) fn copy_tree(&self, from: &Loc, to: &Loc) -> Result<(u64, u64)> {
        let from_root = self.root(from);
        let to_root = self.root(to);
        let verify = |dir: &Dir| self.check_write_handle(to.root, dir);
        let shown = |rel: &RelPath| to_root.display_path(rel);
        // The copy goes through the new directory's own handle, opened strictly and checked.
        let to_dir = to_root.create_dir_strict(&to.rel, &verify, &shown)?;
        let (mut files, mut skipped) = (0u64, 0u64);
        let mut failure: Option<Error> = None;
        let options = WalkOptions::default();
        walk(from_root, &from.rel, &options, &mut |entry| {
            let below = entry.rel.strip_prefix(&from.rel).unwrap_or_else(RelPath::root);
            let target = RelPath::from_components(to.rel.components().chain(below.components()));
            let target_path = self.display(&Loc { root: to.root, rel: target.clone() });
            // Paths below the new directory's handle; it is ours, created empty just now.
            let result = match entry.kind {
                Kind::Dir => to_dir
                    .create_dir(below.as_path())
                    .map_err(|e| Error::io("creating directory", &target_path, e)),
                Kind::File => (|| {
                    let (mut src, meta) = entry.open_file()?;
                    let mut options = OpenOptions::new();
                    options.write(true).create_new(true);
                    let mut dst = to_dir.open_with(below.as_path(), &options)?;
                    io::copy(&mut src, &mut dst)?;
                    dst.set_permissions(meta.permissions())?;
                    dst.sync_all()
                })()
                .map(|()| files += 1)
                .map_err(|e| Error::io("copying to", &target_path, e)),
                _ => {
                    skipped += 1;
                    Ok(())
                }
            };
            match result {
                Ok(()) => Flow::Continue,
                Err(e) => {
                    failure = Some(e);
                    Flow::Stop
                }
            }
        })
        .map_err(|e| Error::io("reading directory", &self.display(from), e))?;
        match failure {
            Some(e) => Err(e),
            None => Ok((files, skipped)),
        }
    }

    /// The record of the directory at `loc` about to be removed with everything in it: each
    /// entry, and each file's content (up to `Record::max_file`) while the list and the contents
    /// fit `Record::max_total` together; the list itself stops at `Record::max_file` bytes.
    /// Past either, `complete` is false.
    pub(super) fn removed_tree(
        &self,
        loc: &Loc,
        path: &str,
        record: &mut dyn Record,
    ) -> Result<Change> {
        let root = self.root(loc);
        let mut removed = vec![Removed { rel: String::new(), prior: Prior::Dir }];
        let (mut listed, mut kept) = (LISTED_ENTRY_BYTES, 0u64);
        let mut complete = true;
        let mut failure: Option<Error> = None;
        let stats = walk(root, &loc.rel, &WalkOptions::default(), &mut |entry| {
            let rel = entry.rel.strip_prefix(&loc.rel).unwrap_or_else(RelPath::root);
            listed += rel.as_str().len() as u64 + LISTED_ENTRY_BYTES;
            if listed > record.max_file() || listed + kept > record.max_total() {
                complete = false;
                return Flow::Stop;
            }
            let prior = match entry.kind {
                Kind::Dir => Prior::Dir,
                Kind::File => {
                    let shown = self.display(&Loc { root: loc.root, rel: entry.rel.clone() });
                    // Waited for while another program holds it (Windows); one still held is
                    // listed unsaved, and the removal then stops at it.
                    match retry_while_busy(|| entry.open_file()) {
                        Ok((mut file, meta)) => {
                            let mode = platform::permission_bits(&meta);
                            if listed + kept + meta.len() > record.max_total() {
                                // Over the bounds: listed, not kept (and not read).
                                Prior::File {
                                    hash: String::new(),
                                    size: meta.len(),
                                    mode,
                                    kept: None,
                                }
                            } else {
                                match read_prior(&mut file, meta.len(), mode, &shown, record) {
                                    Ok(prior) => {
                                        if let Prior::File { kept: Some(_), size, .. } = &prior {
                                            kept += size;
                                        }
                                        prior
                                    }
                                    Err(e) => {
                                        failure = Some(e);
                                        return Flow::Stop;
                                    }
                                }
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                            Prior::File { hash: String::new(), size: 0, mode: 0, kept: None }
                        }
                        Err(e) => {
                            failure = Some(Error::io("reading", &shown, e));
                            return Flow::Stop;
                        }
                    }
                }
                other => Prior::Other { what: other.name().to_owned() },
            };
            removed.push(Removed { rel: rel.as_str().to_owned(), prior });
            Flow::Continue
        })
        .map_err(|e| Error::io("reading directory", path, e))?;
        // What the walk could not list (unreadable directories, names that are not UTF-8) is
        // removed all the same: the record is not complete.
        let complete = complete && stats.unreadable_dirs == 0 && stats.non_utf8_names == 0;
        match failure {
            Some(e) => Err(e),
            None => Ok(Change::Delete { path: path.to_owned(), removed, complete }),
        }
    }

    /// What is at `input` now, not following a final symlink: a file is hashed (not kept).
    pub(crate) fn probe(&self, input: &str) -> Result<(String, Prior)> {
        let (loc, resolved) = self.locate_resolved(input, false)?;
        let path = self.display(&loc);
        let prior = match &resolved.meta {
            None => Prior::Absent,
            Some(meta) if meta.is_dir() => Prior::Dir,
            Some(_) => {
                let (parent, name) = self.open_parent_existing(&loc)?;
                read_existing(&parent, name, &path, &mut super::record::Unrecorded)?.0
            }
        };
        Ok((path, prior))
    }

    /// Puts back the directory `input` as `removed` lists it (a `Change::Delete`'s list), the
    /// contents read with `fetch` by the names they were kept under. Only what is missing is
    /// created: nothing there is replaced. Recorded as the directories and files created
    /// (`Change::Restore`), which deleting the directory reverses when it was missing.
    ///
    /// Errors: as `create_directory`, and `AlreadyExists` when `input` exists unless `merge`.
    pub(crate) fn restore_tree(
        &self,
        input: &str,
        removed: &[Removed],
        merge: bool,
        fetch: &dyn Fn(&str) -> Result<Vec<u8>>,
        record: &mut dyn Record,
    ) -> Result<Vec<String>> {
        let (loc, resolved) = self.locate_resolved(input, false)?;
        // Nothing is put into a read-only root or a served database nested below it.
        self.check_subtree_mutable(&loc)?;
        let path = self.display(&loc);
        match &resolved.meta {
            Some(meta) if !meta.is_dir() => {
                return Err(Error::AlreadyExists { path, hint: "it is not a directory now" });
            }
            Some(_) if !merge => {
                return Err(Error::AlreadyExists {
                    path,
                    hint: "a directory is there again; force: true puts back only what is missing in it",
                });
            }
            _ => {}
        }
        let root = self.root(&loc);
        let verify = |dir: &Dir| self.check_write_handle(loc.root, dir);
        let shown = |rel: &RelPath| root.display_path(rel);
        // What is missing, decided before anything is made.
        let created: Vec<&Removed> = if resolved.meta.is_none() {
            removed.iter().collect()
        } else {
            let existing =
                root.open_dir_strict(&loc.rel).map_err(|e| Error::io("opening", &path, e))?;
            removed
                .iter()
                .filter(|r| !r.rel.is_empty() && existing.symlink_metadata(&r.rel).is_err())
                .collect()
        };
        let names: Vec<String> = created.iter().map(|r| r.rel.clone()).collect();
        let listed = created.iter().map(|r| (*r).clone()).collect();
        record.before(&Change::Restore { path: path.clone(), created: listed })?;
        let dir = root.create_dir_strict(&loc.rel, &verify, &shown)?;
        record.done();
        for entry in created.iter().filter(|r| !r.rel.is_empty()) {
            let here = format!("{path}/{}", entry.rel);
            match &entry.prior {
                Prior::Dir => match dir.create_dir(&entry.rel) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                        return Err(Error::io("creating directory", &here, e));
                    }
                    _ => {}
                },
                Prior::File { kept: Some(kept), mode, .. } => {
                    let bytes = fetch(kept)?;
                    let written = (|| {
                        let mut options = OpenOptions::new();
                        options.write(true).create_new(true);
                        let mut file = dir.open_with(&entry.rel, &options)?;
                        file.write_all(&bytes)?;
                        let current = file.metadata()?.permissions();
                        file.set_permissions(platform::permissions_with_bits(current, *mode))?;
                        file.sync_all()
                    })();
                    written.map_err(|e| Error::io("restoring", &here, e))?;
                }
                _ => {}
            }
        }
        if let Err(err) = platform::sync_dir(&dir) {
            tracing::debug!(error = %err, "syncing a restored directory");
        }
        Ok(names)
    }
}
