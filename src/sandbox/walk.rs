//! Bounded directory walking for tree, search, grep and resource listings.
//!
//! The walk is depth-first in component order (each directory's entries sorted by name), so its
//! output is deterministic and a listing can resume after any path. It never follows symlinks
//! (they are reported as entries), opens each directory with `O_NOFOLLOW` beneath the root, and
//! holds at most one directory handle at a time: a parent's handle is closed while its children
//! are walked and reopened when needed. So a walk works with a small open-file limit, symlink loops
//! cannot trap it, and memory is bounded by the sizes of the directories on the current path.
//! Imports only `sandbox::{path, root, filter, error}`.

use std::cell::{OnceCell, RefCell};
use std::cmp::Ordering;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use cap_fs_ext::DirExt as _;
use cap_std::fs::{Dir, File, Metadata};

use crate::sandbox::filter::{self, Globs, IgnoreStack};
use crate::sandbox::path::RelPath;
use crate::sandbox::root::{Kind, Root, open_regular_file};

/// How far a long call has got, and whether its client gave up on it. The server installs one
/// per call with [`Progress::scope`]; every walk on that thread counts the entries it examines into
/// it, and stops at the next entry once it is cancelled (the caller then discards the partial
/// result). A thread-local scope rather than a parameter, so that every walk (tree, search, grep,
/// listings) honours cancellation without threading a handle through each operation.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    entries: AtomicU64,
    cancelled: AtomicBool,
    /// When the call must stop (`--tool-timeout`); unset for no limit.
    deadline: std::sync::OnceLock<std::time::Instant>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Progress>>> = const { RefCell::new(None) };
}

impl Progress {
    /// Runs `work` with this progress installed for the walks it makes on this thread.
    pub(crate) fn scope<T>(self: &Arc<Self>, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<Arc<Progress>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| *c.borrow_mut() = self.0.take());
            }
        }
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(self)));
        let _restore = Restore(previous);
        work()
    }

    /// From now on, walks stop (as if cancelled) once `timeout` has passed. Called when the
    /// work starts, not when it was queued. Only the first call counts.
    pub(crate) fn start_clock(&self, timeout: std::time::Duration) {
        let _ = self.deadline.set(std::time::Instant::now() + timeout);
    }

    /// Whether the call ran past its deadline (and was not cancelled by the client).
    pub(crate) fn timed_out(&self) -> bool {
        !self.cancelled.load(AtomicOrdering::Relaxed) && self.past_deadline()
    }

    fn past_deadline(&self) -> bool {
        self.deadline.get().is_some_and(|d| std::time::Instant::now() >= *d)
    }

    /// Entries examined so far.
    pub(crate) fn entries(&self) -> u64 {
        self.entries.load(AtomicOrdering::Relaxed)
    }

    /// Asks the walks to stop.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, AtomicOrdering::Relaxed);
    }

    /// Whether the work must stop: the client cancelled it, or its deadline passed.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(AtomicOrdering::Relaxed) || self.past_deadline()
    }

    /// Whether the progress installed on this thread (if any) was cancelled.
    pub(crate) fn current_is_cancelled() -> bool {
        Self::current().is_some_and(|p| p.is_cancelled())
    }

    /// The progress installed on this thread, to hand to helper threads.
    pub(crate) fn current() -> Option<Arc<Progress>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

/// What to walk and what to leave out.
#[derive(Default)]
pub(crate) struct WalkOptions<'a> {
    /// Skip `.git` and whatever `.gitignore`, `.ignore` and `.git/info/exclude` exclude.
    pub(crate) respect_ignore: bool,
    /// Skip entries (and prune directories) matching these globs, relative to the start.
    pub(crate) exclude: Option<&'a Globs>,
    /// Report entries at most this deep (1 = the start's own entries). `None` for no limit.
    pub(crate) max_depth: Option<usize>,
    /// Report only entries after this root-relative path in walk order (for pagination).
    pub(crate) resume_after: Option<&'a RelPath>,
}

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on; descend into this entry if it is a directory.
    Continue,
    /// End the walk.
    Stop,
    /// Stop before this entry: a walk kept in a `WalkState` visits it first when it goes on.
    Pause,
}

/// One entry met by the walk.
pub(crate) struct Entry<'a> {
    /// Root-relative path.
    pub(crate) rel: &'a RelPath,
    /// The entry's name.
    pub(crate) name: &'a str,
    /// Its kind, not following symlinks.
    pub(crate) kind: Kind,
    /// 1 for the start directory's own entries.
    pub(crate) depth: usize,
    parent: &'a LazyDir<'a>,
}

/// Counts of what the walk could not visit, so results can say so honestly.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WalkStats {
    /// Directories that could not be opened or read (permissions, raced away).
    pub(crate) unreadable_dirs: usize,
    /// Entries skipped because their names are not UTF-8.
    pub(crate) non_utf8_names: usize,
}

/// Walks the directory `start` (root-relative, already resolved and known to be a directory),
/// calling `visit` for each entry in walk order. Returns an error only when `start` itself cannot
/// be read; unreadable subdirectories are counted in `WalkStats`.
pub(crate) fn walk(
    root: &Root,
    start: &RelPath,
    options: &WalkOptions<'_>,
    visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
) -> io::Result<WalkStats> {
    let mut state = WalkState::start(root, start, options)?;
    state.run(root, options, visit);
    Ok(state.stats)
}

/// A walk that can pause and go on later, where it paused, without reading again the
/// directories it is in: what is left to visit in each directory on the current path (their
/// entries, and at most one open directory handle). `resources/list` keeps one between pages.
pub(crate) struct WalkState {
    start: RelPath,
    stack: Vec<Frame>,
    stats: WalkStats,
}

impl WalkState {
    /// A walk of `start` that has read `start` and visited nothing yet.
    pub(crate) fn start(
        root: &Root,
        start: &RelPath,
        options: &WalkOptions<'_>,
    ) -> io::Result<Self> {
        let mut stats = WalkStats::default();
        let ignore = if options.respect_ignore {
            ancestors_ignore(root, start)
        } else {
            IgnoreStack::default()
        };
        let first = read_frame(root, None, start, 0, &ignore, options.respect_ignore, &mut stats)?;
        Ok(WalkState { start: start.clone(), stack: vec![first], stats })
    }

    /// Visits entries until `visit` stops or pauses the walk, or it ends; returns whether it
    /// ended (a stopped or cancelled walk counts as ended). `root` and `options` must be those it
    /// started with.
    ///
    /// Long because it is the walk's one loop: resuming, ignore rules, excludes, depth and the
    /// stack of frames (one open directory at a time) all act on the same entry.
    pub(crate) fn run(
        &mut self,
        root: &Root,
        options: &WalkOptions<'_>,
        visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
    ) -> bool {
        let progress = Progress::current();
        let WalkState { start, stack, stats } = self;
        while let Some(frame) = stack.last_mut() {
            // Each entry is visited once, so its name is taken, not copied (and put back if the
            // walk pauses on it).
            let Some((name, kind)) =
                frame.entries.get_mut(frame.next).map(|e| (std::mem::take(&mut e.0), e.1))
            else {
                stack.pop();
                continue;
            };
            frame.next += 1;
            if let Some(progress) = &progress {
                let examined = progress.entries.fetch_add(1, AtomicOrdering::Relaxed);
                // The client's cancel at every entry; the clock (a system call on some
                // platforms) at every 64th.
                let stop = progress.cancelled.load(AtomicOrdering::Relaxed)
                    || (examined % 64 == 0 && progress.past_deadline());
                if stop {
                    return true;
                }
            }
            let Some(rel) = frame.rel.join(&name) else { continue };
            let depth = frame.depth + 1;
            let mut report = true;
            if let Some(after) = options.resume_after {
                match rel.cmp_components(after) {
                    Ordering::Less if kind == Kind::Dir && after.starts_with(&rel) => {
                        report = false
                    }
                    Ordering::Less => continue,
                    Ordering::Equal => report = false,
                    Ordering::Greater => {}
                }
            }
            if options.respect_ignore && filter::excluded(&frame.ignore, &rel, kind == Kind::Dir) {
                continue;
            }
            if let Some(exclude) = options.exclude {
                let below = rel.strip_prefix(start).unwrap_or_else(|| rel.clone());
                if exclude.is_match(&below) {
                    continue;
                }
            }
            let flow = if report {
                let parent = LazyDir { root, rel: &frame.rel, dir: &frame.dir };
                visit(&Entry { rel: &rel, name: &name, kind, depth, parent: &parent })
            } else {
                Flow::Continue
            };
            match flow {
                Flow::Stop => return true,
                Flow::Pause => {
                    frame.next -= 1;
                    frame.entries[frame.next] = (name, kind);
                    return false;
                }
                Flow::Continue => {}
            }
            let deeper_allowed = options.max_depth.is_none_or(|max| depth < max);
            if kind == Kind::Dir && deeper_allowed {
                let ignore = frame.ignore.clone();
                // The child is opened from the parent's handle (one step, following no link); the
                // parent is then closed while its children are walked, and reopened on return if
                // needed, so a walk holds a bounded number of descriptors.
                let parent = std::mem::take(&mut frame.dir).into_inner();
                let opened = read_frame(
                    root,
                    parent.as_ref().map(|dir| (dir, name.as_str())),
                    &rel,
                    depth,
                    &ignore,
                    options.respect_ignore,
                    stats,
                );
                drop(parent);
                if let Ok(child) = opened {
                    stack.push(child);
                }
            }
        }
        true
    }
}

impl Entry<'_> {
    /// The entry's metadata, not following symlinks.
    pub(crate) fn metadata(&self) -> io::Result<Metadata> {
        self.parent.get()?.symlink_metadata(self.name)
    }

    /// Opens the entry for reading if it is a regular file, without following symlinks and without
    /// blocking on special files; see `open_regular_file`.
    pub(crate) fn open_file(&self) -> io::Result<(File, Metadata)> {
        open_regular_file(self.parent.get()?, self.name.as_ref())
    }

    /// The root-relative path of the directory holding the entry.
    pub(crate) fn parent_rel(&self) -> &RelPath {
        self.parent.rel
    }

    /// A handle of its own to the directory holding the entry (a duplicate of the walk's), so
    /// that another thread can open the entry with `open_regular_file` as `open_file` does, while
    /// the walk goes on and closes its own handle as usual.
    pub(crate) fn parent_handle(&self) -> io::Result<Dir> {
        self.parent.get()?.try_clone()
    }
}

/// A directory handle opened on first use and dropped when the walk descends.
struct LazyDir<'a> {
    root: &'a Root,
    rel: &'a RelPath,
    dir: &'a OnceCell<Dir>,
}

impl LazyDir<'_> {
    fn get(&self) -> io::Result<&Dir> {
        if let Some(dir) = self.dir.get() {
            return Ok(dir);
        }
        let dir = open_dir(self.root, self.rel)?;
        Ok(self.dir.get_or_init(|| dir))
    }
}

struct Frame {
    rel: RelPath,
    depth: usize,
    entries: Vec<(String, Kind)>,
    next: usize,
    ignore: IgnoreStack,
    dir: OnceCell<Dir>,
}

fn open_dir(root: &Root, rel: &RelPath) -> io::Result<Dir> {
    // One component at a time, following no link: a directory swapped for a link while the
    // walk runs ends that branch instead of leading it elsewhere.
    root.open_dir_strict(rel)
}

/// Reads one directory's entries (sorted by name) and the ignore rules that apply inside it.
/// Reads one directory of a walk: `rel`, opened from its parent's handle when the caller has it
/// (`parent`: the handle and the directory's name in it), else from the root.
fn read_frame(
    root: &Root,
    parent: Option<(&Dir, &str)>,
    rel: &RelPath,
    depth: usize,
    parent_ignore: &IgnoreStack,
    respect_ignore: bool,
    stats: &mut WalkStats,
) -> io::Result<Frame> {
    let result = (|| -> io::Result<(Dir, Vec<(String, Kind)>)> {
        let dir = match parent {
            Some((parent, name)) => parent.open_dir_nofollow(name)?,
            None => open_dir(root, rel)?,
        };
        let mut entries = Vec::new();
        for entry in dir.entries()? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                stats.non_utf8_names += 1;
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
        Ok((dir, entries))
    })();
    let (dir, entries) = result.inspect_err(|_| stats.unreadable_dirs += 1)?;
    let ignore = if respect_ignore {
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        parent_ignore.enter(root, rel, &names)
    } else {
        IgnoreStack::default()
    };
    let cell = OnceCell::new();
    let _ = cell.set(dir);
    Ok(Frame { rel: rel.clone(), depth, entries, next: 0, ignore, dir: cell })
}

/// The ignore rules of the directories from the root down to (not including) `start`, so a walk
/// of a subdirectory honours the `.gitignore` files above it inside the root.
fn ancestors_ignore(root: &Root, start: &RelPath) -> IgnoreStack {
    let mut stack = IgnoreStack::default();
    let mut dir = RelPath::root();
    for component in start.components() {
        stack = stack.enter(root, &dir, &filter::rule_files(root, &dir));
        let Some(next) = dir.join(component) else { break };
        dir = next;
    }
    stack
}
