//! Changing files: atomic writes and edits, directory creation, move, copy and delete.
//!
//! No file is modified in place: content goes to a temporary file in the target's directory, is
//! synced, gets the old file's permission bits, and is renamed over the target. So a reader never
//! sees half a file, a failure leaves the old file intact, and a hard link to a file outside the
//! roots is replaced rather than written through. Moves and non-overwriting copies use
//! `renameat2(RENAME_NOREPLACE)`, so an existing destination is never clobbered, even by a race.

use std::io::Read;

use cap_fs_ext::DirExt;
use cap_std::fs::{Dir, Metadata, Permissions};

use crate::sandbox::edit::{EditOp, apply_edits, unified_diff};
use crate::sandbox::error::{Error, Result};
use crate::sandbox::path::RelPath;
use crate::sandbox::platform;
use crate::sandbox::read::into_text;
use crate::sandbox::root::open_regular_file;
use crate::sandbox::root::{Kind, Resolved};
use crate::sandbox::{Loc, Sandbox};

mod atomic;
pub(crate) mod record;
mod tree;

use record::{Change, Prior, Record, Removed, kept_file, read_existing, read_prior, sha256};

use atomic::{Perms, Replace, atomic_write, copy_file_into, retry_while_busy};

/// The outcome of `write_file`.
#[derive(Debug)]
pub(crate) struct WriteOut {
    /// Client-visible path.
    pub(crate) path: String,
    /// Whether the file is new.
    pub(crate) created: bool,
    /// Bytes written.
    pub(crate) bytes: u64,
}

/// The outcome of `edit_file`.
#[derive(Debug)]
pub(crate) struct EditOut {
    /// Client-visible path.
    pub(crate) path: String,
    /// Unified diff of the change (empty when nothing changed).
    pub(crate) diff: String,
    /// How many replacements the edits made.
    pub(crate) replacements: usize,
    /// Whether the file was (or, in a dry run, would be) changed.
    pub(crate) changed: bool,
    /// Whether this was a dry run (nothing written).
    pub(crate) dry_run: bool,
}

/// The outcome of a move, copy, delete or directory creation.
#[derive(Debug)]
pub(crate) struct ChangeOut {
    /// Client-visible path of `loc`.
    pub(crate) path: String,
    /// Client-visible source path (move and copy).
    pub(crate) from: Option<String>,
    /// What kind of entry it is (or was).
    pub(crate) kind: Kind,
    /// False when the operation found nothing to do (directory already existed).
    pub(crate) changed: bool,
    /// Files copied, for a directory copy.
    pub(crate) files: u64,
    /// Entries not copied (symlinks, special files), for a directory copy.
    pub(crate) skipped: u64,
}

impl Sandbox {
    /// Writes `content` to a file, creating it (and missing parent directories) or replacing it
    /// atomically with its permission bits kept. A symlink inside the root is written through to
    /// its target. Recorded, the file replaced is read through the directory handle the write
    /// uses, and only that version is replaced (a file changed meanwhile is `ChangedOnDisk`).
    ///
    /// Errors: locate/resolve errors, `ReadOnly`, `IsADirectory`, `SpecialFile`, `Io`.
    pub(crate) fn write_file(
        &self,
        input: &str,
        content: &[u8],
        record: &mut dyn Record,
    ) -> Result<WriteOut> {
        self.write_file_as(input, content, None, record)
    }

    /// `write_file` with the permission bits given (an undo restoring a file), else kept.
    pub(crate) fn write_file_as(
        &self,
        input: &str,
        content: &[u8],
        mode: Option<u32>,
        record: &mut dyn Record,
    ) -> Result<WriteOut> {
        let (loc, resolved) = self.locate_resolved(input, true)?;
        self.check_mutable(&loc)?;
        let path = self.display(&loc);
        let previous = match &resolved.meta {
            Some(meta) => Some(require_writable_file(meta, &path)?),
            None => None,
        };
        let (parent, name) = self.open_parent(&loc, &resolved, true)?;
        let permissions = |current: Option<Permissions>| match (mode, current) {
            (Some(bits), _) => Perms::Bits(bits),
            (None, Some(current)) => Perms::Set(current),
            (None, None) => Perms::New,
        };
        if !record.on() {
            atomic_write(&parent, name, content, permissions(previous.clone()), Replace::Allow)
                .map_err(|e| e.at("writing", &path))?;
            return Ok(WriteOut { path, created: previous.is_none(), bytes: content.len() as u64 });
        }
        let (prior, read_meta) = read_existing(&parent, name, &path, record)?;
        let after_mode = match (&mode, &prior) {
            (Some(bits), _) => *bits,
            (None, Prior::File { mode, .. }) => *mode,
            // A new file's mode is the system's to choose; nothing restores it from here.
            (None, _) => 0,
        };
        let after = Prior::File {
            hash: sha256(content),
            size: content.len() as u64,
            mode: after_mode,
            kept: record.keep(content)?,
        };
        let created = read_meta.is_none();
        let unchanged_since_read =
            |current: &Metadata| read_meta.as_ref().is_some_and(|m| same_version(m, current));
        let replace =
            if created { Replace::Never } else { Replace::IfUnchanged(&unchanged_since_read) };
        let parents = self.missing_parents(&loc, &resolved);
        record.before(&Change::Write { path: path.clone(), prior, after, parents })?;
        let current = read_meta.as_ref().map(Metadata::permissions);
        atomic_write(&parent, name, content, permissions(current), replace)
            .map_err(|e| e.at("writing", &path))?;
        record.done();
        Ok(WriteOut { path, created, bytes: content.len() as u64 })
    }

    /// Applies `edits` to a text file and returns the diff; writes only when `dry_run` is false
    /// and something changed. The file is replaced atomically, and not at all if it changed on
    /// disk while the edit was being made.
    ///
    /// Errors: as `write_file` (`ReadOnly` only when not a dry run), plus `TooLarge` over
    /// `max_edit_bytes`, `NotText`, and `Edit` naming the first edit that does not apply.
    ///
    /// Long because reading, applying, diffing and the checked replace share the file's
    /// metadata, which is what proves the file did not change in between.
    pub(crate) fn edit_file(
        &self,
        input: &str,
        edits: &[EditOp],
        dry_run: bool,
        record: &mut dyn Record,
    ) -> Result<EditOut> {
        let (loc, mut file, meta) = self.open_for_read(input)?;
        if !dry_run {
            self.check_mutable(&loc)?;
            require_writable_file(&meta, &self.display(&loc))?;
        }
        let path = self.display(&loc);
        let limit = self.limits.max_edit_bytes;
        if meta.len() > limit {
            return Err(Error::TooLarge {
                path,
                size: meta.len(),
                limit,
                flag: "--max-edit-bytes",
                hint: "edit_file holds the whole file in memory; raise the limit to edit it",
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&mut file)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("reading", &path, e))?;
        // Windows cannot replace a file this process still holds open.
        drop(file);
        let before =
            into_text(bytes).map_err(|at| Error::NotText { path: path.clone(), at: Some(at) })?;
        let (after, replacements) = apply_edits(&before, edits).map_err(|f| Error::Edit {
            path: path.clone(),
            index: f.index,
            problem: f.problem,
        })?;
        let changed = after != before;
        let diff = if changed {
            let deadline = std::time::Instant::now() + self.limits.tool_timeout.min(DIFF_DEADLINE);
            unified_diff(&path, &before, &after, deadline, self.limits.max_result_bytes)
        } else {
            String::new()
        };
        if changed && !dry_run {
            let resolved = Resolved {
                rel: loc.rel.clone(),
                existing: loc.rel.depth(),
                meta: Some(meta.clone()),
            };
            let (parent, name) = self.open_parent(&loc, &resolved, false)?;
            let unchanged_since_read = |current: &Metadata| same_version(&meta, current);
            if record.on() {
                let mode = platform::permission_bits(&meta);
                let change = Change::Write {
                    path: path.clone(),
                    prior: kept_file(before.as_bytes(), mode, record)?,
                    after: kept_file(after.as_bytes(), mode, record)?,
                    parents: Vec::new(),
                };
                record.before(&change)?;
            }
            atomic_write(
                &parent,
                name,
                after.as_bytes(),
                Perms::Set(meta.permissions()),
                Replace::IfUnchanged(&unchanged_since_read),
            )
            .map_err(|e| e.at("writing", &path))?;
            record.done();
        }
        Ok(EditOut { path, diff, replacements, changed, dry_run })
    }

    /// Creates a directory and any missing parents. Succeeds without change if it already exists.
    ///
    /// Errors: locate/resolve errors, `ReadOnly`, `AlreadyExists` when a file is in the way.
    pub(crate) fn create_directory(
        &self,
        input: &str,
        record: &mut dyn Record,
    ) -> Result<ChangeOut> {
        let (loc, resolved) = self.locate_resolved(input, true)?;
        self.check_mutable(&loc)?;
        let path = self.display(&loc);
        let changed = match &resolved.meta {
            Some(meta) if meta.is_dir() => false,
            Some(_) => {
                return Err(Error::AlreadyExists {
                    path,
                    hint: "it is not a directory; choose another name",
                });
            }
            None => {
                let root = self.root(&loc);
                if record.on() {
                    let created = (resolved.existing + 1..=loc.rel.depth())
                        .map(|depth| {
                            let rel = RelPath::from_components(loc.rel.components().take(depth));
                            self.display(&Loc { root: loc.root, rel })
                        })
                        .collect();
                    record.before(&Change::CreateDirs { path: path.clone(), created })?;
                }
                let verify = |dir: &Dir| self.check_write_handle(loc.root, dir);
                let shown = |rel: &RelPath| root.display_path(rel);
                root.create_dir_strict(&loc.rel, &verify, &shown)?;
                record.done();
                true
            }
        };
        Ok(ChangeOut { path, from: None, kind: Kind::Dir, changed, files: 0, skipped: 0 })
    }

    /// Moves or renames a file or directory; never replaces an existing destination. A symlink is
    /// moved itself, not its target. Across file systems, a file is copied and then removed.
    ///
    /// Errors: locate/resolve errors for both paths, `ReadOnly`, `NotFound`, `AlreadyExists`.
    pub(crate) fn move_entry(
        &self,
        source: &str,
        destination: &str,
        record: &mut dyn Record,
    ) -> Result<ChangeOut> {
        let (from, from_meta) = self.existing_source(source)?;
        self.check_subtree_mutable(&from)?;
        let (to, to_resolved) = self.new_destination(destination)?;
        self.check_mutable(&to)?;
        let from_path = self.display(&from);
        let to_path = self.display(&to);
        let kind = Kind::of(from_meta.file_type());
        if from.root == to.root && kind == Kind::Dir && to.rel.starts_with(&from.rel) {
            return Err(Error::InvalidArgument(format!(
                "cannot move directory \"{from_path}\" into itself (\"{to_path}\")"
            )));
        }
        let (from_parent, from_name) = self.open_parent_existing(&from)?;
        let (to_parent, to_name) = self.open_parent(&to, &to_resolved, true)?;
        if record.on() {
            record.before(&Change::Move {
                from: from_path.clone(),
                to: to_path.clone(),
                parents: self.missing_parents(&to, &to_resolved),
            })?;
        }
        // Retried while another program holds the source open (Windows), as a write is.
        match retry_while_busy(|| {
            platform::rename_noreplace(&from_parent, from_name, &to_parent, to_name)
        }) {
            Ok(()) => {}
            Err(e) if platform::is_cross_device(&e) && kind == Kind::File => {
                copy_file_into(&from_parent, from_name, &to_parent, to_name, Replace::Never)
                    .map_err(|e| e.at("copying", &to_path))?;
                from_parent
                    .remove_file(from_name)
                    .map_err(|e| Error::io("removing", &from_path, e))?;
            }
            Err(e) if platform::is_cross_device(&e) => {
                return Err(Error::InvalidArgument(format!(
                    "\"{from_path}\" and \"{to_path}\" are on different file systems; copy_file the directory, then delete_file the original"
                )));
            }
            Err(e) => return Err(Error::io("moving to", &to_path, e)),
        }
        record.done();
        for dir in [&from_parent, &to_parent] {
            if let Err(err) = platform::sync_dir(dir) {
                tracing::debug!(error = %err, "syncing a directory after a move");
            }
        }
        Ok(ChangeOut {
            path: to_path,
            from: Some(from_path),
            kind,
            changed: true,
            files: 0,
            skipped: 0,
        })
    }

    /// Copies a file, or a directory recursively (symlinks and special files inside are skipped
    /// and counted). An existing destination file is replaced only when `overwrite` is set (and
    /// never a directory).
    ///
    /// Errors: locate/resolve errors, `ReadOnly` for the destination, `NotFound`, `AlreadyExists`,
    /// `SpecialFile`.
    pub(crate) fn copy_entry(
        &self,
        source: &str,
        destination: &str,
        overwrite: bool,
        record: &mut dyn Record,
    ) -> Result<ChangeOut> {
        let (from, from_resolved) = self.locate_resolved(source, true)?;
        let from_path = self.display(&from);
        let Some(from_meta) = from_resolved.meta else {
            return Err(Error::NotFound { path: from_path });
        };
        let kind = Kind::of(from_meta.file_type());
        if kind.is_special() {
            return Err(Error::SpecialFile { path: from_path, kind: kind.name() });
        }
        let (to, to_resolved) = match self.new_destination(destination) {
            Ok(found) => found,
            Err(Error::AlreadyExists { .. }) if overwrite && kind == Kind::File => {
                let (to, resolved) = self.locate_resolved(destination, true)?;
                let path = self.display(&to);
                require_writable_file(
                    resolved.meta.as_ref().ok_or(Error::NotFound { path: path.clone() })?,
                    &path,
                )?;
                (to, resolved)
            }
            Err(e) => return Err(e),
        };
        self.check_mutable(&to)?;
        let to_path = self.display(&to);
        if kind == Kind::File {
            let (from_parent, from_name) = self.open_parent_existing(&from)?;
            let (to_parent, to_name) = self.open_parent(&to, &to_resolved, true)?;
            // Over an existing file with the journal on: the file replaced, read through the
            // handle the copy uses, and the content copied, hashed on the way (so that an undo
            // can tell whether it was changed); only the version read is replaced.
            let mut read_meta = None;
            if overwrite && record.on() {
                let (prior, meta) = read_existing(&to_parent, to_name, &to_path, record)?;
                if meta.is_some() {
                    let (mut source, source_meta) =
                        open_regular_file(&from_parent, from_name.as_ref())
                            .map_err(|e| Error::io("opening", &from_path, e))?;
                    let mode = platform::permission_bits(&source_meta);
                    let after =
                        read_prior(&mut source, source_meta.len(), mode, &from_path, record)?;
                    drop(source);
                    let parents = Vec::new();
                    let path = to_path.clone();
                    record.before(&Change::Write { path, prior, after, parents })?;
                }
                read_meta = meta;
            }
            let unchanged_since_read =
                |current: &Metadata| read_meta.as_ref().is_some_and(|m| same_version(m, current));
            let replace = match (&read_meta, overwrite) {
                (Some(_), _) => Replace::IfUnchanged(&unchanged_since_read),
                (None, true) => Replace::Allow,
                (None, false) => Replace::Never,
            };
            copy_file_into(&from_parent, from_name, &to_parent, to_name, replace)
                .map_err(|e| e.at("copying to", &to_path))?;
            if read_meta.is_some() {
                record.done();
            }
            return Ok(ChangeOut {
                path: to_path,
                from: Some(from_path),
                kind,
                changed: true,
                files: 1,
                skipped: 0,
            });
        }
        if from.root == to.root && to.rel.starts_with(&from.rel) {
            return Err(Error::InvalidArgument(format!(
                "cannot copy directory \"{from_path}\" into itself (\"{to_path}\")"
            )));
        }
        let (files, skipped) = self.copy_tree(&from, &to)?;
        Ok(ChangeOut { path: to_path, from: Some(from_path), kind, changed: true, files, skipped })
    }

    /// Deletes a file, symlink (not its target) or special file; a directory only when empty or
    /// with `recursive`. A root itself cannot be deleted.
    ///
    /// Errors: locate/resolve errors, `ReadOnly`, `NotFound`, `DirectoryNotEmpty`.
    pub(crate) fn delete(
        &self,
        input: &str,
        recursive: bool,
        record: &mut dyn Record,
    ) -> Result<ChangeOut> {
        let (loc, meta) = self.existing_source(input)?;
        self.check_subtree_mutable(&loc)?;
        let path = self.display(&loc);
        if loc.rel.is_root() {
            return Err(Error::InvalidArgument(format!(
                "\"{path}\" is an allowed root directory and cannot be deleted"
            )));
        }
        let kind = Kind::of(meta.file_type());
        let (parent, name) = self.open_parent_existing(&loc)?;
        let mut read_meta = None;
        if record.on() {
            let change = match kind {
                Kind::File => {
                    let (prior, meta) = read_existing(&parent, name, &path, record)?;
                    read_meta = meta;
                    let removed = vec![Removed { rel: String::new(), prior }];
                    Change::Delete { path: path.clone(), removed, complete: true }
                }
                Kind::Dir if recursive => self.removed_tree(&loc, &path, record)?,
                // An empty directory (a full one is refused by the system).
                Kind::Dir => Change::Delete {
                    path: path.clone(),
                    removed: vec![Removed { rel: String::new(), prior: Prior::Dir }],
                    complete: true,
                },
                other => Change::Delete {
                    path: path.clone(),
                    removed: vec![Removed {
                        rel: String::new(),
                        prior: Prior::Other { what: other.name().to_owned() },
                    }],
                    complete: true,
                },
            };
            record.before(&change)?;
        }
        // Only the version recorded is deleted.
        if let Some(meta) = &read_meta {
            let current =
                parent.symlink_metadata(name).map_err(|e| Error::io("reading", &path, e))?;
            if !same_version(meta, &current) {
                return Err(Error::ChangedOnDisk { path });
            }
        }
        // Windows refuses to delete what another program (an editor, an indexer, a virus
        // scanner, or this server's own watcher) holds open for a moment: try again, as a write
        // does. A recursive delete goes on from what is left.
        let removed = retry_while_busy(|| match kind {
            Kind::Dir if recursive => parent.remove_dir_all(name),
            Kind::Dir => parent.remove_dir(name),
            _ => parent.remove_file_or_symlink(name),
        });
        if removed.is_ok() || (kind == Kind::Dir && recursive) {
            // A recursive delete that failed part way removed some: its record stands.
            record.done();
        }
        removed.map_err(|e| Error::io("deleting", &path, e))?;
        Ok(ChangeOut { path, from: None, kind, changed: true, files: 0, skipped: 0 })
    }

    /// An existing entry to move or delete: resolved with the last component not followed.
    fn existing_source(&self, input: &str) -> Result<(Loc, Metadata)> {
        let (loc, resolved) = self.locate_resolved(input, false)?;
        match resolved.meta {
            Some(meta) => Ok((loc, meta)),
            None => Err(Error::NotFound { path: self.display(&loc) }),
        }
    }

    /// A destination that must not exist yet. A symlink there that leads outside the root is
    /// refused as an escape; any existing entry, even a dangling symlink, is `AlreadyExists`.
    fn new_destination(&self, input: &str) -> Result<(Loc, Resolved)> {
        // Following the last component first makes a dangling symlink to the outside an escape.
        self.locate_resolved(input, true)?;
        let (loc, resolved) = self.locate_resolved(input, false)?;
        if resolved.meta.is_some() {
            let hint = "choose another name, or delete it first";
            return Err(Error::AlreadyExists { path: self.display(&loc), hint });
        }
        if loc.rel.is_root() {
            return Err(Error::AlreadyExists {
                path: self.display(&loc),
                hint: "it is a root directory",
            });
        }
        Ok((loc, resolved))
    }

    /// Opens the parent directory of `loc` (creating missing directories when `create` is set)
    /// and returns it with the entry's name.
    fn open_parent<'a>(
        &self,
        loc: &'a Loc,
        resolved: &Resolved,
        create: bool,
    ) -> Result<(Dir, &'a str)> {
        let path = self.display(loc);
        let (Some(parent), Some(name)) = (loc.rel.parent(), loc.rel.file_name()) else {
            return Err(Error::IsADirectory { path });
        };
        let root = self.root(loc);
        let parent_dir = if resolved.existing < loc.rel.depth().saturating_sub(1) {
            if !create {
                return Err(Error::NotFound {
                    path: self.display(&Loc { root: loc.root, rel: parent }),
                });
            }
            let verify = |dir: &Dir| self.check_write_handle(loc.root, dir);
            let shown = |rel: &RelPath| root.display_path(rel);
            root.create_dir_strict(&parent, &verify, &shown)?
        } else {
            // One component at a time, following no link: a swap since the path was resolved
            // makes this fail rather than lead elsewhere.
            let dir = root.open_dir_strict(&parent).map_err(|e| {
                Error::io(
                    "opening directory",
                    &self.display(&Loc { root: loc.root, rel: parent }),
                    e,
                )
            })?;
            self.check_write_handle(loc.root, &dir)?;
            dir
        };
        Ok((parent_dir, name))
    }

    fn open_parent_existing<'a>(&self, loc: &'a Loc) -> Result<(Dir, &'a str)> {
        let resolved = Resolved { rel: loc.rel.clone(), existing: loc.rel.depth(), meta: None };
        self.open_parent(loc, &resolved, false)
    }
}

/// How long the diff of an edit may look for the smallest answer (at most --tool-timeout); after
/// that it settles for a coarser one, which still shows every change.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// The file's permissions if it is a regular file; otherwise the error for writing over it.
fn require_file(meta: &Metadata, path: &str) -> Result<Permissions> {
    match Kind::of(meta.file_type()) {
        Kind::File => Ok(meta.permissions()),
        Kind::Dir => Err(Error::IsADirectory { path: path.to_owned() }),
        kind => Err(Error::SpecialFile { path: path.to_owned(), kind: kind.name() }),
    }
}

/// `require_file` for a file about to be replaced: one marked read-only (no write permission on
/// Unix, the read-only attribute on Windows) is refused, as every editor would.
fn require_writable_file(meta: &Metadata, path: &str) -> Result<Permissions> {
    let permissions = require_file(meta, path)?;
    if permissions.readonly() {
        return Err(Error::ReadOnlyFile { path: path.to_owned() });
    }
    Ok(permissions)
}

/// Whether two metadata snapshots describe the same version of a file (same file, size, mtime).
fn same_version(a: &Metadata, b: &Metadata) -> bool {
    platform::file_id(a) == platform::file_id(b)
        && a.len() == b.len()
        && a.modified().ok() == b.modified().ok()
}
