//! Bounded directory walking for tree, search, grep and resource listings.
//!
//! The walk is depth-first in component order (each directory's entries sorted by name), so its
//! output is deterministic and a listing can resume after any path. It never follows symlinks
//! (they are reported as entries), opens each directory with `O_NOFOLLOW` beneath the root, and
//! holds at most one directory handle at a time: a parent's handle is closed while its children
//! are walked and reopened when needed. So a walk works with a small open-file limit, symlink loops
//! cannot trap it, and memory is bounded by the sizes of the directories on the current path.
//! Imports only `sandbox::{path, root, filter, prefetch}`.

use std::cell::{OnceCell, RefCell};
use std::cmp::Ordering;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use cap_std::fs::{Dir, File, Metadata};

use crate::sandbox::filter::{self, Globs, IgnoreStack};
use crate::sandbox::path::RelPath;
use crate::sandbox::prefetch::{Listing, Prefetch, list_dir};
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
    /// Let a reader thread list directories ahead of a long walk (`prefetch.rs`). Worth it when
    /// the walk's own work is light (trees, glob search); grep already keeps the cores
    /// busy searching files, and a reader only competes with its searchers; a resource page
    /// pauses its walk, which drops what was read ahead.
    pub(crate) read_ahead: bool,
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
    /// Directories gone into so far.
    entered: usize,
    /// Directories it goes into before a reader lists ahead (`PREFETCH_AFTER`).
    prefetch_after: usize,
}

/// Directories a walk goes into on its own before a reader lists the next ones ahead of it: a
/// small walk never starts a thread.
const PREFETCH_AFTER: usize = 8;

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
        Ok(WalkState {
            start: start.clone(),
            stack: vec![first],
            stats,
            entered: 0,
            prefetch_after: PREFETCH_AFTER,
        })
    }

    /// Visits entries until `visit` stops or pauses the walk, or it ends; returns whether it
    /// ended (a stopped or cancelled walk counts as ended). `root` and `options` must be those it
    /// started with. After `PREFETCH_AFTER` directories, a reader thread lists the next ones
    /// ahead of it (`prefetch.rs`) until this returns.
    pub(crate) fn run(
        &mut self,
        root: &Root,
        options: &WalkOptions<'_>,
        visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
    ) -> bool {
        let prefetch = Prefetch::default();
        std::thread::scope(|scope| {
            let mut reader = None;
            let mut tried = false;
            let ended = self.steps(root, options, visit, &mut || {
                if !tried {
                    tried = true;
                    // Spawning can fail (no threads left): the walk then reads on its own.
                    reader = std::thread::Builder::new()
                        .name("walk-ahead".to_owned())
                        .spawn_scoped(scope, || prefetch.read_ahead(root))
                        .ok();
                }
                reader.is_some().then_some(&prefetch)
            });
            prefetch.stop();
            ended
        })
    }

    /// The walk's one loop (see `run`); `ahead` is asked, whenever the walk goes into or out of
    /// a directory, for the reader to offer the next directories to.
    ///
    /// Long because it is the walk's one loop: resuming, ignore rules, excludes, depth and the
    /// stack of frames (one open directory at a time) all act on the same entry.
    fn steps<'p>(
        &mut self,
        root: &Root,
        options: &WalkOptions<'_>,
        visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
        ahead: &mut dyn FnMut() -> Option<&'p Prefetch>,
    ) -> bool {
        let progress = Progress::current();
        let WalkState { start, stack, stats, entered, prefetch_after } = self;
        let prefetch_after = *prefetch_after;
        while let Some(frame) = stack.last_mut() {
            // Each entry is visited once, so its name is taken, not copied (and put back if the
            // walk pauses on it).
            let Some((name, kind)) =
                frame.entries.get_mut(frame.next).map(|e| (std::mem::take(&mut e.0), e.1))
            else {
                stack.pop();
                if options.read_ahead
                    && *entered >= prefetch_after
                    && let (Some(prefetch), Some(top)) = (ahead(), stack.last_mut())
                {
                    offer(top, options, start, prefetch);
                }
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
            let Some(report) = admits(options, start, &frame.ignore, &rel, kind == Kind::Dir)
            else {
                continue;
            };
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
                // The child is opened from the parent's handle (one step, following no link), or
                // was listed ahead; the parent is then closed while its children are walked, and
                // reopened on return if needed, so a walk holds a bounded number of descriptors.
                let parent = std::mem::take(&mut frame.dir).into_inner();
                *entered += 1;
                let prefetch =
                    if options.read_ahead && *entered >= prefetch_after { ahead() } else { None };
                let opened = match prefetch.and_then(|p| p.take(&rel)) {
                    Some(Ok((entries, non_utf8))) => {
                        stats.non_utf8_names += non_utf8;
                        Ok(frame_of(root, &rel, depth, &ignore, options.respect_ignore, entries))
                    }
                    Some(Err(e)) => {
                        stats.unreadable_dirs += 1;
                        Err(e)
                    }
                    None => read_frame(
                        root,
                        parent.as_ref().map(|dir| (dir, name.as_str())),
                        &rel,
                        depth,
                        &ignore,
                        options.respect_ignore,
                        stats,
                    ),
                };
                drop(parent);
                if let Ok(child) = opened {
                    stack.push(child);
                    if let (Some(prefetch), Some(top)) = (prefetch, stack.last_mut()) {
                        offer(top, options, start, prefetch);
                    }
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
    /// Entries before this one have been looked at for the reader (`offer`).
    offered: usize,
    ignore: IgnoreStack,
    dir: OnceCell<Dir>,
}

fn open_dir(root: &Root, rel: &RelPath) -> io::Result<Dir> {
    // One component at a time, following no link: a directory swapped for a link while the
    // walk runs ends that branch instead of leading it elsewhere.
    root.open_dir_strict(rel)
}

/// Reads one directory of a walk (see `list_dir`) and the ignore rules that apply inside it.
fn read_frame(
    root: &Root,
    parent: Option<(&Dir, &str)>,
    rel: &RelPath,
    depth: usize,
    parent_ignore: &IgnoreStack,
    respect_ignore: bool,
    stats: &mut WalkStats,
) -> io::Result<Frame> {
    let Listing { dir, entries, non_utf8 } =
        list_dir(root, parent, rel).inspect_err(|_| stats.unreadable_dirs += 1)?;
    stats.non_utf8_names += non_utf8;
    let frame = frame_of(root, rel, depth, parent_ignore, respect_ignore, entries);
    let _ = frame.dir.set(dir);
    Ok(frame)
}

/// A frame for a listed directory, with no handle yet (it is opened if an entry needs it).
fn frame_of(
    root: &Root,
    rel: &RelPath,
    depth: usize,
    parent_ignore: &IgnoreStack,
    respect_ignore: bool,
    entries: Vec<(String, Kind)>,
) -> Frame {
    let ignore = if respect_ignore {
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        parent_ignore.enter(root, rel, &names)
    } else {
        IgnoreStack::default()
    };
    Frame { rel: rel.clone(), depth, entries, next: 0, offered: 0, ignore, dir: OnceCell::new() }
}

/// What the walk does with the entry `rel` of a directory whose rules are `ignore`: `None` to
/// skip it (before a resumed walk's place, ignored, or excluded), else whether to report it (an
/// entry on the path to the place a walk resumes after is gone through, not reported).
fn admits(
    options: &WalkOptions<'_>,
    start: &RelPath,
    ignore: &IgnoreStack,
    rel: &RelPath,
    is_dir: bool,
) -> Option<bool> {
    let mut report = true;
    if let Some(after) = options.resume_after {
        match rel.cmp_components(after) {
            Ordering::Less if is_dir && after.starts_with(rel) => report = false,
            Ordering::Less => return None,
            Ordering::Equal => report = false,
            Ordering::Greater => {}
        }
    }
    if options.respect_ignore && filter::excluded(ignore, rel, is_dir) {
        return None;
    }
    if let Some(exclude) = options.exclude {
        let below = rel.strip_prefix(start).unwrap_or_else(|| rel.clone());
        if exclude.is_match(&below) {
            return None;
        }
    }
    Some(report)
}

/// Offers the reader the next directories `frame` will go into (at most `OFFER` at a time).
fn offer(frame: &mut Frame, options: &WalkOptions<'_>, start: &RelPath, prefetch: &Prefetch) {
    const OFFER: usize = 8;
    let mut dirs = Vec::new();
    let mut at = frame.next.max(frame.offered);
    while at < frame.entries.len() && dirs.len() < OFFER {
        let (name, kind) = &frame.entries[at];
        at += 1;
        if *kind != Kind::Dir {
            continue;
        }
        let depth = frame.depth + 1;
        if let Some(rel) = frame.rel.join(name)
            && admits(options, start, &frame.ignore, &rel, true).is_some()
            && options.max_depth.is_none_or(|max| depth < max)
        {
            dirs.push(rel);
        }
    }
    frame.offered = at;
    prefetch.want_first(dirs);
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

#[cfg(test)]
mod tests {
    use cap_std::fs::Dir;

    use super::*;
    use crate::sandbox::root::Mode;

    /// 3 levels of directories (10, 5, 3 wide), each leaf with two files, some ignored.
    fn tree() -> (tempfile::TempDir, Root) {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().canonicalize().unwrap();
        std::fs::write(path.join(".gitignore"), "ignored/\n*.skip\nb3/\n").unwrap();
        for a in 0..10 {
            for b in 0..5 {
                for c in 0..3 {
                    let leaf = path.join(format!("a{a}/b{b}/c{c}"));
                    std::fs::create_dir_all(&leaf).unwrap();
                    std::fs::write(leaf.join("f0.txt"), "x").unwrap();
                    std::fs::write(leaf.join("f1.skip"), "x").unwrap();
                }
            }
            std::fs::create_dir_all(path.join(format!("a{a}/ignored/deep"))).unwrap();
            std::fs::write(path.join(format!("a{a}/ignored/deep/g.txt")), "x").unwrap();
        }
        let dir = Dir::open_ambient_dir(&path, cap_std::ambient_authority()).unwrap();
        (temp, Root::new(path.clone(), path, Mode::Writable, dir))
    }

    /// Every entry a walk reports, and whether it ended, with the reader from the first
    /// directory on (`ahead`) or never.
    fn walked(root: &Root, options: &WalkOptions<'_>, ahead: bool) -> Vec<(String, usize)> {
        let mut state = WalkState::start(root, &RelPath::root(), options).unwrap();
        state.prefetch_after = if ahead { 0 } else { usize::MAX };
        let mut seen = Vec::new();
        // Pausing every 37 entries, as resources/list does between pages.
        loop {
            let mut in_page = 0;
            let ended = state.run(root, options, &mut |entry| {
                if in_page == 37 {
                    return Flow::Pause;
                }
                in_page += 1;
                seen.push((entry.rel.as_str().to_owned(), entry.depth));
                Flow::Continue
            });
            if ended {
                return seen;
            }
        }
    }

    #[test]
    fn reading_ahead_changes_nothing_a_walk_reports() {
        let (_temp, root) = tree();
        let exclude = Globs::new(&["a3/**".to_owned()], "exclude").unwrap();
        let after = RelPath::root().join("a5").unwrap().join("b2").unwrap();
        for respect_ignore in [true, false] {
            for max_depth in [None, Some(2)] {
                for exclude in [None, exclude.as_ref()] {
                    for resume_after in [None, Some(&after)] {
                        let options = WalkOptions {
                            respect_ignore,
                            exclude,
                            max_depth,
                            resume_after,
                            read_ahead: true,
                        };
                        let alone = walked(&root, &options, false);
                        let ahead = walked(&root, &options, true);
                        assert!(alone.len() > 20, "{alone:?}");
                        assert_eq!(ahead, alone, "ignore {respect_ignore}, depth {max_depth:?}");
                    }
                }
            }
        }
    }
}
