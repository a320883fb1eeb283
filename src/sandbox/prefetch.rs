//! Reading directories ahead of a walk, on a second thread.
//!
//! A walk is sequential (its order is the answer's order), and much of its time is the system
//! reading directories: opening one, listing it, sorting the names. So once a walk has gone into
//! a few directories, a reader thread lists the directories it will go into next while the walk
//! works through the entries it has. The walk offers the next directories of the directory it is
//! in, most urgent first; it takes a listing when it gets there, waits for one being read, and
//! reads one itself if the reader has not started on it. The answer is the same either way.
//!
//! The reader opens each directory from the root one component at a time, following no link, as
//! the walk does when it has no parent handle, and closes it once listed: it holds one directory
//! handle at a time. What it holds in memory is bounded twice: at most `MAX_AHEAD` directories
//! queued, and at most `MAX_AHEAD_ENTRIES` names listed and not yet taken.
//! Imports only `sandbox::{path, root, filter, temp}`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};

use cap_fs_ext::DirExt as _;
use cap_std::fs::Dir;

use crate::sandbox::filter;
use crate::sandbox::path::RelPath;
use crate::sandbox::root::{Kind, Root};

/// Directories queued ahead of the walk, at most (the furthest are dropped; the walk reads those
/// itself).
pub(crate) const MAX_AHEAD: usize = 32;
/// Names listed ahead of the walk and not yet taken, at most (the reader waits past it).
pub(crate) const MAX_AHEAD_ENTRIES: usize = 256 * 1024;

/// One directory listed ahead: its entries sorted by name, and how many names were not UTF-8.
pub(crate) type Listed = io::Result<(Entries, usize)>;

/// A directory's entries, sorted by name, without the names no listing shows.
pub(crate) type Entries = Vec<(String, Kind)>;

/// One directory listed: its handle, its entries, and how many names were not UTF-8 (left out).
pub(crate) struct Listing {
    pub(crate) dir: Dir,
    pub(crate) entries: Entries,
    pub(crate) non_utf8: usize,
}

/// Lists one directory: `rel`, opened from its parent's handle when the caller has it (`parent`:
/// the handle and the directory's name in it), else from the root one component at a time. Its
/// entries come sorted by name, without the names no listing shows; the count is of names that
/// are not UTF-8 (left out).
pub(crate) fn list_dir(
    root: &Root,
    parent: Option<(&Dir, &str)>,
    rel: &RelPath,
) -> io::Result<Listing> {
    let dir = match parent {
        Some((parent, name)) => parent.open_dir_nofollow(name)?,
        // One component at a time, following no link: a directory swapped for a link while the
        // walk runs ends that branch instead of leading it elsewhere.
        None => root.open_dir_strict(rel)?,
    };
    let mut entries = Vec::new();
    let mut non_utf8 = 0;
    for entry in dir.entries()? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            non_utf8 += 1;
            continue;
        };
        if filter::is_hidden(&name) {
            crate::sandbox::temp::sweep_temp(root, &dir, &name);
            continue;
        }
        let mut kind = Kind::of(entry.file_type()?);
        if kind == Kind::Unknown {
            // Some file systems leave d_type unset; ask the inode.
            kind = entry.metadata().map(|m| Kind::of(m.file_type())).unwrap_or(Kind::Unknown);
        }
        entries.push((name, kind));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Listing { dir, entries, non_utf8 })
}

#[derive(Default)]
struct State {
    /// What to list next, first first.
    queue: VecDeque<RelPath>,
    /// The directory being listed now.
    reading: Option<RelPath>,
    /// Listed and not yet taken.
    ready: HashMap<RelPath, Listed>,
    /// Names in `ready`.
    ready_entries: usize,
    stop: bool,
}

/// What the walk and its reader share.
#[derive(Default)]
pub(crate) struct Prefetch {
    state: Mutex<State>,
    /// Wakes the reader: something was queued or taken, or it must stop.
    to_reader: Condvar,
    /// Wakes the walk: a listing is ready.
    to_walk: Condvar,
}

impl Prefetch {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for `dirs` to be listed, in this order and before anything queued earlier (they are
    /// what the walk needs next).
    pub(crate) fn want_first(&self, dirs: Vec<RelPath>) {
        if dirs.is_empty() {
            return;
        }
        let mut state = self.lock();
        for rel in dirs.into_iter().rev() {
            if state.reading.as_ref() != Some(&rel) && !state.ready.contains_key(&rel) {
                state.queue.push_front(rel);
            }
        }
        state.queue.truncate(MAX_AHEAD);
        drop(state);
        self.to_reader.notify_one();
    }

    /// The listing of `rel` if it was read ahead (waiting for it if it is being read); `None`
    /// if the walk must read it itself (it is then no longer queued).
    pub(crate) fn take(&self, rel: &RelPath) -> Option<Listed> {
        let mut state = self.lock();
        loop {
            if let Some(listed) = state.ready.remove(rel) {
                if let Ok((entries, _)) = &listed {
                    state.ready_entries -= entries.len();
                }
                drop(state);
                self.to_reader.notify_one();
                return Some(listed);
            }
            if state.reading.as_ref() != Some(rel) {
                state.queue.retain(|queued| queued != rel);
                return None;
            }
            state = self.to_walk.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Ends the reader (after the directory it is listing, if any).
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.to_reader.notify_all();
    }

    /// The reader thread: lists what is queued until told to stop.
    pub(crate) fn read_ahead(&self, root: &Root) {
        loop {
            let mut state = self.lock();
            let rel = loop {
                if state.stop {
                    return;
                }
                if state.ready_entries < MAX_AHEAD_ENTRIES
                    && let Some(rel) = state.queue.pop_front()
                {
                    break rel;
                }
                state = self.to_reader.wait(state).unwrap_or_else(|e| e.into_inner());
            };
            state.reading = Some(rel.clone());
            drop(state);
            let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // The handle closes here: the reader holds one at a time.
                list_dir(root, None, &rel).map(|listed| (listed.entries, listed.non_utf8))
            }))
            .unwrap_or_else(|_| Err(io::Error::other("listing a directory panicked")));
            let mut state = self.lock();
            state.reading = None;
            if let Ok((entries, _)) = &listed {
                state.ready_entries += entries.len();
            }
            state.ready.insert(rel, listed);
            drop(state);
            self.to_walk.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::root().join(s).unwrap()
    }

    #[test]
    fn wanted_first_goes_first_and_the_queue_stays_bounded() {
        let prefetch = Prefetch::default();
        prefetch.want_first((0..MAX_AHEAD).map(|i| rel(&format!("later{i:02}"))).collect());
        prefetch.want_first(vec![rel("now1"), rel("now2")]);
        let state = prefetch.lock();
        assert_eq!(state.queue.len(), MAX_AHEAD);
        assert_eq!(state.queue[0], rel("now1"));
        assert_eq!(state.queue[1], rel("now2"));
        assert_eq!(state.queue[MAX_AHEAD - 1], rel("later29"), "the furthest were dropped");
        drop(state);
        // A queued directory the walk reaches first is left to the walk.
        assert!(prefetch.take(&rel("now2")).is_none());
        assert!(!prefetch.lock().queue.contains(&rel("now2")));
    }
}
