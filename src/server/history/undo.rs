//! Reversing a recorded change (`undo`), showing one (`show`), and telling where a change whose
//! server stopped in the middle stands (`settled`). An undo goes through the sandbox like any
//! write, and is recorded itself, so it can be undone in turn (a redo). Before it changes
//! anything, its guard compares what is on disk now, read through the handle the undo then
//! uses, with what the change left; a difference refuses the undo unless `force`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::journal::{Entry, Journal, State};
use crate::sandbox::Sandbox;
use crate::sandbox::edit::unified_diff;
use crate::sandbox::error::{Error, Result};
use crate::sandbox::read::into_text;
use crate::sandbox::write::record::{Change, Prior, Removed, Unrecorded};
use crate::server::history::{Recorded, Recorder, not_undoable};

/// A guard's check (see `undo`).
type Check = Box<dyn Fn(&Change) -> std::result::Result<(), String> + Send>;

/// Where a change whose server stopped stands.
pub(crate) enum Settled {
    /// The disk shows it made.
    Made,
    /// The disk shows it not made.
    NotMade,
    /// Neither: why.
    Neither(String),
}

/// The outcome of `undo`.
pub(crate) struct Undone {
    /// What the undo did, in one line.
    pub(crate) summary: String,
    /// The undo's own entry (undoing it redoes the change).
    pub(crate) recorded: Option<Recorded>,
}

/// A file's state in a message.
fn shown(prior: &Prior) -> String {
    match prior {
        Prior::Absent => "nothing is there".to_owned(),
        Prior::File { size, hash, .. } => format!("a file of {size} bytes (SHA-256 {:.12})", hash),
        Prior::Dir => "a directory is there".to_owned(),
        Prior::Other { what } => format!("a {what} is there"),
    }
}

fn same_file(a: &Prior, b: &Prior) -> bool {
    match (a, b) {
        (Prior::File { hash: x, .. }, Prior::File { hash: y, .. }) => x == y,
        (Prior::Absent, Prior::Absent) | (Prior::Dir, Prior::Dir) => true,
        _ => false,
    }
}

fn changed_since(path: &str, now: &Prior, then: &Prior) -> String {
    format!(
        "\"{path}\" has changed since: {} now, where the change left {}. Look at it first (read it, or show_change for what the change did); undo_change with force: true replaces it anyway",
        shown(now),
        shown(then).replace(" is there", "")
    )
}

/// The change an entry records, if it can be undone now.
fn undoable(entry: &Entry, force: bool) -> Result<Change> {
    let id = entry.id;
    match entry.state {
        State::Pending => {
            return Err(Error::NotMade(format!(
                "change #{id} is still being made (or its server stopped while making it); try again in a moment"
            )));
        }
        State::Incomplete => {
            return Err(Error::NotMade(format!(
                "change #{id} cannot be undone: its server stopped while making it ({})",
                entry.not_undoable.as_deref().unwrap_or("the disk matches neither side")
            )));
        }
        State::Done => {}
    }
    let change: Change = serde_json::from_value(entry.undo.clone()).map_err(|e| {
        Error::NotMade(format!("change #{id} cannot be undone: its record is unreadable ({e})"))
    })?;
    // A directory's removal with some entries unsaved can be put back in part, when asked.
    let partial = matches!(&change, Change::Delete { removed, .. }
        if matches!(removed.first(), Some(Removed { prior: Prior::Dir, .. })));
    if let Some(reason) = &entry.not_undoable
        && !(force && partial)
    {
        let more =
            if partial { "; undo_change with force: true puts back what was saved" } else { "" };
        return Err(Error::NotMade(format!("change #{id} cannot be undone: {reason}{more}")));
    }
    Ok(change)
}

/// Reverses change `id`. Refused when the target changed since, unless `force`.
pub(crate) fn undo(
    sandbox: &Sandbox,
    journal: &Arc<Journal>,
    id: i64,
    force: bool,
) -> Result<Undone> {
    let entry = journal
        .get(id)
        .map_err(|e| Error::NotMade(format!("reading the change journal: {e}")))?
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "there is no change #{id} (list_changes shows the changes kept; the journal keeps them for --history-days and up to --history-max-bytes)"
            ))
        })?;
    let change = undoable(&entry, force)?;
    let fetch = |name: &str| {
        journal.blob(&crate::journal::store::Hash(name.to_owned())).map_err(|e| {
            Error::NotMade(format!(
                "change #{id} cannot be undone: its saved content is gone ({e})"
            ))
        })
    };
    let max_file = journal.bounds().max_file;
    // Each undo's guard: `check` says why what is there now is not what the change left; then
    // the undo is refused, unless `force`, and even then when what it would replace cannot be
    // saved (force never destroys what cannot be brought back).
    let recorder = |force: bool, check: Check| {
        let guard = move |undoing: &Change| match check(undoing) {
            Ok(()) => Ok(()),
            Err(why) if !force => Err(why),
            Err(why) => match not_undoable(undoing, max_file) {
                None => Ok(()),
                Some(reason) => Err(format!(
                    "{why}. Even with force it is refused: the undo would replace what the journal cannot save ({reason})"
                )),
            },
        };
        Recorder::undoing(Arc::clone(journal), id, Box::new(guard))
    };
    let (done, record) = match change {
        Change::Write { path, prior: Prior::Absent, after, parents } => {
            let at = path.clone();
            let mut record = recorder(
                force,
                Box::new(move |undoing: &Change| match undoing {
                    Change::Delete { removed, .. } => match removed.first() {
                        Some(r) if !same_file(&r.prior, &after) => {
                            Err(changed_since(&at, &r.prior, &after))
                        }
                        _ => Ok(()),
                    },
                    _ => Ok(()),
                }),
            );
            let done = sandbox.delete(&path, false, &mut record);
            remove_empty(sandbox, &parents, &done);
            (done.map(|_| format!("deleted {path}, which change #{id} created")), record)
        }
        Change::Write {
            path,
            prior: Prior::File { kept: Some(kept), mode, size, .. },
            after,
            ..
        } => {
            let bytes = fetch(&kept)?;
            let at = path.clone();
            let mut record = recorder(
                force,
                Box::new(move |undoing: &Change| match undoing {
                    Change::Write { prior, .. } if !same_file(prior, &after) => {
                        Err(changed_since(&at, prior, &after))
                    }
                    _ => Ok(()),
                }),
            );
            let done = sandbox.write_file_as(&path, &bytes, Some(mode), &mut record);
            (done.map(|_| format!("restored {path} ({size} bytes)")), record)
        }
        Change::Write { .. } => return Err(nothing_saved(id)),
        Change::CreateDirs { path, created } => {
            let top = created.first().cloned().unwrap_or_else(|| path.clone());
            // Never forced: it would delete what the change did not make.
            let mut record = recorder(
                false,
                Box::new(|undoing: &Change| {
                    match undoing {
                Change::Delete { removed, complete, .. }
                    if !complete || removed.iter().any(|r| !matches!(r.prior, Prior::Dir)) =>
                {
                    Err("the directory has files in it now; delete or move them first (undo_change does not delete what the change did not make, even with force)".to_owned())
                }
                _ => Ok(()),
            }
                }),
            );
            let done = sandbox.delete(&top, true, &mut record);
            (done.map(|_| format!("removed directory {top}")), record)
        }
        Change::Move { from, to, parents } => {
            let mut record = recorder(force, Box::new(|_: &Change| Ok(())));
            let done = sandbox.move_entry(&to, &from, &mut record);
            remove_empty(sandbox, &parents, &done);
            (done.map(|_| format!("moved {to} back to {from}")), record)
        }
        Change::Delete { path, removed, .. } => match removed.first().map(|r| r.prior.clone()) {
            Some(Prior::File { kept: Some(kept), mode, size, .. }) => {
                let bytes = fetch(&kept)?;
                let at = path.clone();
                let mut record = recorder(
                    force,
                    Box::new(move |undoing: &Change| match undoing {
                        Change::Write { prior, .. } if *prior != Prior::Absent => {
                            Err(changed_since(&at, prior, &Prior::Absent))
                        }
                        _ => Ok(()),
                    }),
                );
                let done = sandbox.write_file_as(&path, &bytes, Some(mode), &mut record);
                (done.map(|_| format!("restored {path} ({size} bytes)")), record)
            }
            Some(Prior::Dir) => {
                // Every saved content is checked first: a restore never stops half way for one.
                for r in &removed {
                    if let Prior::File { kept: Some(kept), .. } = &r.prior
                        && !journal.has_blob(kept)
                    {
                        return Err(Error::NotMade(format!(
                            "change #{id} cannot be undone: the saved content of \"{}\" is gone",
                            r.rel
                        )));
                    }
                }
                let mut record = recorder(force, Box::new(|_: &Change| Ok(())));
                let done = sandbox.restore_tree(&path, &removed, force, &fetch, &mut record);
                (done.map(|made| format!("put back {path} ({} entries)", made.len())), record)
            }
            _ => return Err(nothing_saved(id)),
        },
        Change::Restore { path, created } => {
            let made: HashMap<String, Prior> =
                created.into_iter().map(|r| (r.rel, r.prior)).collect();
            let at = path.clone();
            let mut record = recorder(
                force,
                Box::new(move |undoing: &Change| match undoing {
                    Change::Delete { complete: false, .. } => Err(format!(
                        "\"{at}\" holds more entries than the journal could list; delete it yourself if you mean to"
                    )),
                    Change::Delete { removed, .. } => {
                        match removed.iter().find(|r| {
                            !made.get(&r.rel).is_some_and(|then| {
                                matches!(then, Prior::Dir) == matches!(r.prior, Prior::Dir)
                                    && (matches!(r.prior, Prior::Dir) || same_file(then, &r.prior))
                            })
                        }) {
                            Some(r) => Err(format!(
                                "\"{at}/{}\" is new or changed since the directory was put back; undo_change with force: true deletes the directory anyway",
                                r.rel
                            )),
                            None => Ok(()),
                        }
                    }
                    _ => Ok(()),
                }),
            );
            let done = sandbox.delete(&path, true, &mut record);
            (done.map(|_| format!("deleted {path} again")), record)
        }
    };
    let recorded = record.finish();
    done.map(|summary| Undone { summary, recorded })
}

/// After an undo took away what a change put in directories it created: those directories,
/// innermost first, while they are empty (not recorded: the undo's redo creates them again).
fn remove_empty<T>(sandbox: &Sandbox, parents: &[String], done: &Result<T>) {
    if done.is_err() {
        return;
    }
    for dir in parents.iter().rev() {
        if sandbox.delete(dir, false, &mut Unrecorded).is_err() {
            break;
        }
    }
}

fn nothing_saved(id: i64) -> Error {
    Error::NotMade(format!("change #{id} cannot be undone: what it replaced was not saved"))
}

/// Whether every path `change` names lies inside this server's roots.
pub(crate) fn reachable(sandbox: &Sandbox, change: &Change) -> bool {
    let paths: Vec<&str> = match change {
        Change::Write { path, .. }
        | Change::CreateDirs { path, .. }
        | Change::Delete { path, .. }
        | Change::Restore { path, .. } => vec![path],
        Change::Move { from, to, .. } => vec![from, to],
    };
    paths.into_iter().all(|path| sandbox.locate(path).is_ok())
}

/// Where a change whose server stopped stands, from what is on disk now.
pub(crate) fn settled(sandbox: &Sandbox, change: &Change) -> Settled {
    let now = |path: &str| sandbox.probe(path).map(|(_, prior)| prior);
    let neither =
        |why: &str| Settled::Neither(format!("the server stopped while making it: {why}"));
    let checked = (|| -> Result<Settled> {
        Ok(match change {
            Change::Write { path, prior, after, .. } => {
                let current = now(path)?;
                if same_file(&current, after) {
                    Settled::Made
                } else if same_file(&current, prior) {
                    Settled::NotMade
                } else {
                    neither("the file is neither what it was nor what was being written")
                }
            }
            Change::CreateDirs { path, .. } => match now(path)? {
                Prior::Dir => Settled::Made,
                _ => Settled::NotMade,
            },
            Change::Move { from, to, .. } => match (now(from)?, now(to)?) {
                (Prior::Absent, Prior::Absent) => neither("the entry is at neither path"),
                (Prior::Absent, _) => Settled::Made,
                (_, Prior::Absent) => Settled::NotMade,
                _ => neither("something is at both paths"),
            },
            Change::Delete { path, removed, .. } => match (now(path)?, removed.first()) {
                (Prior::Absent, _) => Settled::Made,
                // A directory partly removed: undo puts back what is missing (with force).
                (Prior::Dir, Some(Removed { prior: Prior::Dir, .. })) => Settled::Made,
                (current, Some(r)) if same_file(&current, &r.prior) => Settled::NotMade,
                _ => neither("something else is there"),
            },
            Change::Restore { path, .. } => match now(path)? {
                Prior::Absent => Settled::NotMade,
                _ => Settled::Made,
            },
        })
    })();
    checked.unwrap_or_else(|err| neither(&format!("it could not be checked ({err})")))
}

/// What change `id` did, for show_change: a unified diff for text, sizes for binary content,
/// the entries of a removed directory (at most `max_lines`).
pub(crate) fn show(journal: &Journal, entry: &Entry, max_bytes: usize, max_lines: usize) -> String {
    let Ok(change) = serde_json::from_value::<Change>(entry.undo.clone()) else {
        return "(no record of what it did)".to_owned();
    };
    let text = |prior: &Prior| -> Option<String> {
        match prior {
            Prior::File { kept: Some(kept), .. } => journal
                .blob(&crate::journal::store::Hash(kept.clone()))
                .ok()
                .and_then(|bytes| into_text(bytes).ok()),
            Prior::Absent => Some(String::new()),
            _ => None,
        }
    };
    match &change {
        Change::Write { path, prior, after, .. } => match (text(prior), text(after)) {
            (Some(before), Some(after)) => {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                let diff = unified_diff(path, &before, &after, deadline, max_bytes);
                if diff.is_empty() { "(no difference)".to_owned() } else { diff }
            }
            _ => format!("{} → {} (binary or not saved: no diff)", size_of(prior), size_of(after)),
        },
        Change::Delete { removed, complete, .. } => {
            let mut lines: Vec<String> = removed
                .iter()
                .take(max_lines)
                .map(|r| {
                    let name = if r.rel.is_empty() { "." } else { &r.rel };
                    format!("{name}: {}", size_of(&r.prior))
                })
                .collect();
            if removed.len() > max_lines || !complete {
                lines.push(format!("... ({} entries listed in all)", removed.len()));
            }
            lines.join("\n")
        }
        Change::Restore { created, .. } => created
            .iter()
            .take(max_lines)
            .map(|r| {
                format!("{}: {}", if r.rel.is_empty() { "." } else { &r.rel }, size_of(&r.prior))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Change::CreateDirs { created, .. } => format!("created: {}", created.join(", ")),
        Change::Move { from, to, .. } => format!("{from} → {to}"),
    }
}

fn size_of(prior: &Prior) -> String {
    match prior {
        Prior::Absent => "nothing".to_owned(),
        Prior::File { size, kept: Some(_), .. } => format!("file, {size} bytes"),
        Prior::File { size, .. } => format!("file, {size} bytes (not saved)"),
        Prior::Dir => "directory".to_owned(),
        Prior::Other { what } => format!("{what} (not saved)"),
    }
}
