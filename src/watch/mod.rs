//! `watch`: change events for the files under the roots and for a few extra files (the
//! databases and their journals), from the system's file watcher (`notify`: inotify on Linux),
//! debounced and coalesced into [`Batch`]es on a thread of its own.
//!
//! Each root is watched recursively as directories, never as single files, so an editor's save by
//! temporary file and rename is seen every time. Events are collected until none has arrived for
//! the debounce interval (or the batch has waited [`MAX_WINDOW_FACTOR`] intervals), then become
//! one batch: the locations that changed, whether the set of listed files changed (decided
//! against an [`index::Index`] of the listed files, so an atomic replace is an update and not a
//! new file), and which extra files were touched. Ignored paths never make `list_changed`.
//!
//! When the native watcher cannot watch a root (inotify's per-user watch limit, a file system
//! without events), the thread says so once on stderr, with the fix, and polls the subscribed
//! paths under that root instead ([`poll`]); `--watch poll` polls that way from the start. The
//! watcher needs host paths (the kernel watches paths), so it watches each root's canonical path
//! and maps every event back to a location through the sandbox, dropping events outside every
//! root. Nothing here knows about MCP: `server::subscriptions` turns batches into notifications.

pub mod index;
pub mod poll;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind};
use notify::{RecursiveMode, Watcher as _};

use crate::sandbox::path::RelPath;
use crate::sandbox::{Loc, Sandbox};
use index::{Index, Visibility};
use poll::Poller;

/// Distinct paths one batch tracks at most; beyond, the batch counts as "anything may have
/// changed" (like the kernel's queue overflowing), which bounds the watcher's memory.
pub const MAX_PENDING_PATHS: usize = 200_000;
/// How long changes must settle before a batch is sent, unless configured otherwise.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// The longest debounce `--debounce` accepts.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(10);
/// How often polled paths are checked, unless configured otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest poll interval `--poll-interval` accepts.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// A batch is sent at the latest this many debounce intervals after its first event, so a file
/// that never stops changing (a log being written) still produces notifications.
pub const MAX_WINDOW_FACTOR: u32 = 10;

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The system's watcher on every root; polling for subscribed paths where it fails.
    Auto,
    /// Polling the subscribed paths and the databases only.
    Poll,
    /// No watching and no change notifications.
    Off,
}

/// The watcher's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// How changes are noticed.
    pub mode: Mode,
    /// How long changes must settle before a batch is sent.
    pub debounce: Duration,
    /// How often polled paths are checked.
    pub poll_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Auto,
            debounce: DEFAULT_DEBOUNCE,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// What a subscription covers: one path (which may not exist yet), or a directory and everything
/// listed below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The path (symlinks already resolved by the caller).
    pub loc: Loc,
    /// Whether entries below `loc` count too.
    pub subtree: bool,
    /// Whether entries below count even if ignore rules exclude them (a subscription to an
    /// ignored directory, such as `build/`, is about what is in it).
    pub unlisted_too: bool,
}

impl Target {
    /// A target for `loc`: the path alone, or (`subtree`) everything below it that a listing
    /// would show, or everything below it if the directory itself is ignored.
    pub fn new(sandbox: &Sandbox, loc: Loc, subtree: bool) -> Target {
        let unlisted_too = subtree && {
            let root = &sandbox.roots()[loc.root];
            !Visibility::default().is_listed(root, loc.root, &loc.rel, true)
        };
        Target { loc, subtree, unlisted_too }
    }
}

/// One path that changed in a batch.
#[derive(Debug, Clone)]
pub struct Changed {
    /// Where.
    pub loc: Loc,
    /// Created, removed or renamed (as opposed to written).
    pub structural: bool,
    /// Whether resources/list would list it (ignore rules, `.git`, temporary files).
    pub listed: bool,
}

/// Changes that settled together.
#[derive(Debug, Default)]
pub struct Batch {
    /// The paths that changed, sorted by root and path.
    pub changed: Vec<Changed>,
    /// Whether the set of listed files changed.
    pub list_changed: bool,
    /// The watcher lost events (the kernel's queue overflowed): anything may have changed.
    pub everything: bool,
    /// Keys of the extra files that were touched.
    pub extra: Vec<usize>,
}

impl Batch {
    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && !self.list_changed && !self.everything && self.extra.is_empty()
    }

    /// Whether a change in this batch concerns `target`: the path itself changed, a listed entry
    /// below a directory target changed, or a directory above the target was created, removed or
    /// renamed. A subscribed ignored file is still reported; ignored entries below a directory
    /// target are not.
    pub fn touches(&self, target: &Target) -> bool {
        self.everything
            || self.changed.iter().any(|c| {
                c.loc.root == target.loc.root
                    && (c.loc.rel == target.loc.rel
                        || (target.subtree
                            && (c.listed || target.unlisted_too)
                            && c.loc.rel.starts_with(&target.loc.rel))
                        || (c.structural && target.loc.rel.starts_with(&c.loc.rel)))
            })
    }
}

/// Extra files to watch outside the roots' recursive watches (a database, its `-wal` and
/// `-journal`), reported by `key` when any of them is touched.
#[derive(Debug, Clone)]
pub struct ExtraFile {
    /// Reported in `Batch::extra`.
    pub key: usize,
    /// The host paths (absolute); their parent directories are watched.
    pub paths: Vec<PathBuf>,
}

/// The watcher: create it with the server, start it after the handshake. Subscriptions tell it
/// what they cover (`track`/`untrack`) so that it can poll those paths where it must.
pub struct Watcher {
    tx: Sender<Msg>,
    rx: Mutex<Option<Receiver<Msg>>>,
    options: Options,
    /// Per root, whether it is polled (shared with the watch thread, which sets it).
    polled: OnceLock<Arc<Vec<AtomicBool>>>,
}

enum Msg {
    Event(notify::Result<notify::Event>),
    /// A target and, if its root is polled, what it looked like when subscribed.
    Track(Target, Option<u64>),
    Untrack(Target),
    Stop,
}

/// What a batch's event says about a path.
const CONTENT: u8 = 1;
const STRUCTURAL: u8 = 2;
const DIR: u8 = 4;

impl Watcher {
    /// A watcher that does nothing until `start`.
    pub fn new(options: Options) -> Watcher {
        let (tx, rx) = channel();
        Watcher { tx, rx: Mutex::new(Some(rx)), options, polled: OnceLock::new() }
    }

    /// The settings.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Starts watching on a thread of its own and returns at once; `sink` receives every
    /// non-empty batch. Does nothing if already started or if the mode is `Off`.
    ///
    /// Errors: the thread could not be started.
    pub fn start(
        &self,
        sandbox: Arc<Sandbox>,
        extra: Vec<ExtraFile>,
        sink: impl FnMut(Batch) + Send + 'static,
    ) -> std::io::Result<()> {
        if self.options.mode == Mode::Off {
            return Ok(());
        }
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        let n_roots = sandbox.roots().len();
        let shared_polled = Arc::clone(
            self.polled
                .get_or_init(|| Arc::new((0..n_roots).map(|_| AtomicBool::new(false)).collect())),
        );
        let state = State {
            shared_polled,
            poller: Poller::new(self.options.poll_interval, &extra),
            sandbox,
            extra,
            options: self.options.clone(),
            tx: self.tx.clone(),
            sink: Box::new(sink),
            native: None,
            native_extra: None,
            polled: vec![false; n_roots],
            extra_polled: false,
            index: Index::default(),
            visibility: Visibility::default(),
            warned_limit: false,
        };
        std::thread::Builder::new().name("watch".to_owned()).spawn(move || {
            // A bug here must not end notifications silently.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.run(&rx)));
            if outcome.is_err() {
                tracing::error!("file watching stopped after an internal error; change notifications are off until the server restarts");
            }
        })?;
        Ok(())
    }

    /// Whether subscriptions under root `idx` are polled (the native watcher does not cover it).
    pub fn is_polled(&self, idx: usize) -> bool {
        self.polled
            .get()
            .is_some_and(|p| p.get(idx).is_some_and(|flag| flag.load(Ordering::Relaxed)))
    }

    /// A subscription now covers `target`. Blocking: if the target's root is polled, this notes
    /// what the target looks like now (a `stat`, or a walk for a directory), so a change made
    /// right after subscribing is not mistaken for the starting point.
    pub fn track(&self, sandbox: &Sandbox, target: Target) {
        let now = self
            .is_polled(target.loc.root)
            .then(|| poll::fingerprint(&sandbox.roots()[target.loc.root], &target));
        let _ = self.tx.send(Msg::Track(target, now));
    }

    /// A subscription no longer covers `target` (one `untrack` per `track`).
    pub fn untrack(&self, target: Target) {
        let _ = self.tx.send(Msg::Untrack(target));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Paths seen since the last batch.
#[derive(Default)]
struct Pending {
    paths: HashMap<PathBuf, u8>,
    rescan: bool,
    events: u64,
}

struct State {
    sandbox: Arc<Sandbox>,
    extra: Vec<ExtraFile>,
    options: Options,
    tx: Sender<Msg>,
    sink: Box<dyn FnMut(Batch) + Send>,
    native: Option<notify::RecommendedWatcher>,
    native_extra: Option<notify::RecommendedWatcher>,
    /// Roots the native watcher does not cover: subscriptions below them are polled.
    polled: Vec<bool>,
    /// The same, for `Watcher::track`.
    shared_polled: Arc<Vec<AtomicBool>>,
    extra_polled: bool,
    poller: Poller,
    index: Index,
    visibility: Visibility,
    warned_limit: bool,
}

impl State {
    fn run(mut self, rx: &Receiver<Msg>) {
        let started = Instant::now();
        self.setup();
        let polled = self.polled.iter().filter(|p| **p).count();
        tracing::info!(
            indexed_files = self.index.len(),
            polled_roots = polled,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "watching for changes"
        );
        let mut pending = Pending::default();
        loop {
            let due = self.poller.next_due(&self.polled, self.extra_polled);
            // Overdue: poll now, even if messages keep arriving (they would starve it).
            if due.is_some_and(|due| due <= Instant::now()) {
                self.poll();
                continue;
            }
            let first = match due {
                Some(due) => match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        self.poll();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => return,
                },
            };
            if !self.handle(first, &mut pending) {
                return;
            }
            if pending.events == 0 {
                continue;
            }
            let window_start = Instant::now();
            let window = self.options.debounce * MAX_WINDOW_FACTOR;
            let mut last_event = window_start;
            loop {
                let deadline = (last_event + self.options.debounce).min(window_start + window);
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                match rx.recv_timeout(deadline - now) {
                    Ok(msg) => {
                        let before = pending.events;
                        if !self.handle(msg, &mut pending) {
                            return;
                        }
                        if pending.events > before {
                            last_event = Instant::now();
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let batch = self.process(std::mem::take(&mut pending));
            if !batch.is_empty() {
                (self.sink)(batch);
            }
        }
    }

    /// Starts the native watches (mode `Auto`) and indexes the listed files of the roots they
    /// cover. Runs on the watch thread, after the handshake, so a large tree delays nothing.
    fn setup(&mut self) {
        if self.options.mode == Mode::Poll {
            self.polled.iter_mut().for_each(|p| *p = true);
            self.shared_polled.iter().for_each(|p| p.store(true, Ordering::Relaxed));
            self.extra_polled = !self.extra.is_empty();
            return;
        }
        let config = notify::Config::default().with_follow_symlinks(false);
        let tx = self.tx.clone();
        match notify::RecommendedWatcher::new(move |e| drop(tx.send(Msg::Event(e))), config) {
            Ok(watcher) => {
                self.native = Some(watcher);
                for idx in 0..self.polled.len() {
                    if self.polled[idx] {
                        continue;
                    }
                    if let Err(err) = self.watch_root(idx) {
                        self.degrade(idx, &err);
                    }
                }
            }
            Err(err) => {
                for idx in 0..self.polled.len() {
                    self.degrade(idx, &err);
                }
            }
        }
        if !self.extra.is_empty() {
            let tx = self.tx.clone();
            let watched = notify::RecommendedWatcher::new(
                move |e| drop(tx.send(Msg::Event(e))),
                notify::Config::default(),
            )
            .and_then(|mut watcher| {
                let mut dirs: Vec<PathBuf> = self
                    .extra
                    .iter()
                    .flat_map(|x| x.paths.iter().filter_map(|p| p.parent().map(PathBuf::from)))
                    .collect();
                dirs.sort();
                dirs.dedup();
                for dir in dirs {
                    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
                }
                Ok(watcher)
            });
            match watched {
                Ok(watcher) => self.native_extra = Some(watcher),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot watch the databases' directories; polling the databases every {:?} instead", self.options.poll_interval);
                    self.extra_polled = true;
                }
            }
        }
        let roots: Vec<usize> = (0..self.polled.len()).filter(|&i| !self.polled[i]).collect();
        self.index = Index::build(&self.sandbox, &roots);
    }

    /// The native watcher cannot (or can no longer) cover root `idx`: say why, once, with the
    /// fix, and poll the subscriptions below it from now on.
    /// Watches root `idx` recursively. A failure other than running out of watches (typically a
    /// directory deleted while the watches were being added, during a build) is retried once.
    fn watch_root(&mut self, idx: usize) -> notify::Result<()> {
        let path = self.sandbox.roots()[idx].canonical().to_path_buf();
        let Some(native) = &mut self.native else {
            return Err(notify::Error::generic("the system watcher is not running"));
        };
        let mut result = native.watch(&path, RecursiveMode::Recursive);
        if result.as_ref().is_err_and(|e| !matches!(e.kind, notify::ErrorKind::MaxFilesWatch)) {
            let _ = native.unwatch(&path);
            std::thread::sleep(Duration::from_millis(50));
            result = native.watch(&path, RecursiveMode::Recursive);
        }
        result
    }

    fn degrade(&mut self, idx: usize, err: &notify::Error) {
        if self.polled[idx] {
            return;
        }
        self.polled[idx] = true;
        self.shared_polled[idx].store(true, Ordering::Relaxed);
        let root = self.sandbox.roots()[idx].display().display().to_string();
        let interval = self.options.poll_interval;
        if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
            if !self.warned_limit {
                self.warned_limit = true;
                tracing::warn!(
                    "file watching: the system ran out of inotify watches while watching {root}; subscribed files there are polled every {interval:?} instead, and files created or deleted there are not announced. To watch natively, raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 (and add fs.inotify.max_user_watches=524288 to /etc/sysctl.conf to keep it), then restart the server"
                );
            }
        } else {
            tracing::warn!(
                "file watching: cannot watch {root} ({err}); subscribed files there are polled every {interval:?} instead, and files created or deleted there are not announced"
            );
        }
        let canonical = self.sandbox.roots()[idx].canonical().to_path_buf();
        if let Some(native) = &mut self.native {
            let _ = native.unwatch(&canonical);
        }
        // Removing the watches also removed those of roots nested inside this one.
        let nested: Vec<usize> = (0..self.polled.len())
            .filter(|&j| j != idx && self.sandbox.roots()[j].canonical().starts_with(&canonical))
            .collect();
        for j in nested {
            self.degrade(j, err);
        }
        // Changes may have been missed before polling takes its first look: tell the
        // subscribers of this root to re-read, once.
        let changed: Vec<Changed> = self
            .poller
            .targets_in(idx)
            .into_iter()
            .map(|t| Changed { loc: t.loc, structural: false, listed: true })
            .collect();
        if !changed.is_empty() {
            (self.sink)(Batch { changed, ..Batch::default() });
        }
    }

    /// Applies one message; false to stop.
    fn handle(&mut self, msg: Msg, pending: &mut Pending) -> bool {
        match msg {
            Msg::Stop => return false,
            Msg::Track(target, now) => self.poller.track(target, now),
            Msg::Untrack(target) => self.poller.untrack(&target),
            Msg::Event(Err(err)) => {
                let idx = err.paths.first().and_then(|p| self.sandbox.locate_host_path(p));
                // At run time notify reports running out of watches (for a new directory) and
                // transient errors (a directory gone before its watch was added); only the
                // first leaves part of a root unwatched.
                match (idx, &err.kind) {
                    (Some(loc), notify::ErrorKind::MaxFilesWatch) => self.degrade(loc.root, &err),
                    (None, notify::ErrorKind::MaxFilesWatch) => {
                        for idx in 0..self.polled.len() {
                            self.degrade(idx, &err);
                        }
                    }
                    _ => tracing::debug!(error = %err, "file watcher error"),
                }
            }
            Msg::Event(Ok(event)) => {
                if event.need_rescan() {
                    pending.rescan = true;
                    pending.events += 1;
                }
                let flags = match event.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => CONTENT,
                    EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => 0,
                    EventKind::Create(CreateKind::Folder)
                    | EventKind::Remove(RemoveKind::Folder) => STRUCTURAL | DIR,
                    EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(ModifyKind::Name(_)) => STRUCTURAL,
                    EventKind::Modify(_) | EventKind::Any | EventKind::Other => CONTENT,
                };
                if flags != 0 {
                    for path in event.paths {
                        if pending.paths.len() >= MAX_PENDING_PATHS {
                            // Too many to track one by one: treat it as lost events.
                            pending.rescan = true;
                            break;
                        }
                        *pending.paths.entry(path).or_default() |= flags;
                    }
                    pending.events += 1;
                }
            }
        }
        true
    }

    /// Turns the paths of one debounce window into a batch, updating the index.
    fn process(&mut self, pending: Pending) -> Batch {
        let mut batch = Batch { everything: pending.rescan, ..Batch::default() };
        let mut structural: Vec<Loc> = Vec::new();
        // Directories whose ignore rules changed (a listed .gitignore or .ignore, or a
        // repository's .git/info/exclude): what is listed below them may differ anywhere.
        let mut rules: Vec<Loc> = Vec::new();
        for (path, flags) in pending.paths {
            for extra in &self.extra {
                if extra.paths.contains(&path) && !batch.extra.contains(&extra.key) {
                    batch.extra.push(extra.key);
                }
            }
            let Some(loc) = self.sandbox.locate_host_path(&path) else { continue };
            let root = &self.sandbox.roots()[loc.root];
            let is_dir = flags & DIR != 0
                || self.index.is_dir(loc.root, &loc.rel)
                || (flags & STRUCTURAL != 0 && Index::stat_is_dir(root, &loc.rel));
            let listed = self.visibility.is_listed(root, loc.root, &loc.rel, is_dir);
            if let Some(dir) = rules_dir(&loc.rel, listed) {
                rules.push(Loc { root: loc.root, rel: dir });
            }
            let is_structural = flags & STRUCTURAL != 0;
            if is_structural && listed && !self.polled[loc.root] {
                structural.push(loc.clone());
            }
            // Unlisted paths (.git/, build output) matter only to a subscription that names
            // them (or a directory above them); the rest are dropped here, not broadcast.
            if listed || self.poller.covers(&loc) {
                batch.changed.push(Changed { loc, structural: is_structural, listed });
            }
        }
        batch.changed.sort_by(|a, b| {
            a.loc.root.cmp(&b.loc.root).then_with(|| a.loc.rel.cmp_components(&b.loc.rel))
        });
        let in_scope = |sandbox: &Sandbox, loc: &Loc| sandbox.in_scope(loc);
        if pending.rescan {
            // Events were lost: anything may have changed.
            self.visibility.clear();
            let roots: Vec<usize> = (0..self.polled.len()).filter(|&i| !self.polled[i]).collect();
            self.index = Index::build(&self.sandbox, &roots);
            batch.list_changed = true;
            return batch;
        }
        if !rules.is_empty() {
            self.visibility.clear();
        }
        for dir in rules.iter().filter(|d| !self.polled[d.root]) {
            let root = &self.sandbox.roots()[dir.root];
            if self.index.refresh(root, dir.root, &dir.rel) && in_scope(&self.sandbox, dir) {
                batch.list_changed = true;
            }
        }
        // Parents first, so a new directory's walk accounts for its children once.
        structural.sort_by_key(|loc| loc.rel.depth());
        for loc in structural {
            let root = &self.sandbox.roots()[loc.root];
            // A change outside the client's roots is not the client's list (and must not tell
            // it when things happen there).
            if self.index.apply(root, loc.root, &loc.rel) && in_scope(&self.sandbox, &loc) {
                batch.list_changed = true;
            }
        }
        batch
    }

    /// Polls the subscribed paths under polled roots (and the extra files if polled) and sends
    /// what changed.
    fn poll(&mut self) {
        let mut batch = Batch::default();
        self.poller.poll(&self.sandbox, &self.polled, self.extra_polled, &mut batch);
        if !batch.is_empty() {
            (self.sink)(batch);
        }
    }
}

/// If a change to `rel` changes ignore rules, the directory they apply to: a listed
/// `.gitignore` or `.ignore` (one in an ignored directory changes nothing listed), or a
/// repository's `.git/info/exclude`.
fn rules_dir(rel: &RelPath, listed: bool) -> Option<RelPath> {
    match rel.file_name() {
        Some(".gitignore" | ".ignore") if listed => rel.parent(),
        Some("exclude") if rel.as_str() == ".git/info/exclude" => Some(RelPath::root()),
        Some("exclude") if rel.as_str().ends_with("/.git/info/exclude") => {
            rel.parent()?.parent()?.parent()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(path: &str) -> Loc {
        Loc { root: 0, rel: RelPath::parse(path).unwrap() }
    }

    fn batch(changes: &[(&str, bool, bool)]) -> Batch {
        Batch {
            changed: changes
                .iter()
                .map(|&(p, structural, listed)| Changed { loc: loc(p), structural, listed })
                .collect(),
            ..Batch::default()
        }
    }

    #[test]
    fn batch_touches_table() {
        let check = |changes: &[(&str, bool, bool)], target: &str, subtree: bool, expected| {
            let target = Target { loc: loc(target), subtree, unlisted_too: false };
            assert_eq!(batch(changes).touches(&target), expected, "{changes:?} vs {target:?}");
        };
        // The file itself, written or replaced, listed or ignored.
        check(&[("a/b.txt", false, true)], "a/b.txt", false, true);
        check(&[("a/b.txt", true, false)], "a/b.txt", false, true);
        // Another file, or a file that only shares a prefix of the name.
        check(&[("a/c.txt", false, true)], "a/b.txt", false, false);
        check(&[("a/b.txt2", false, true)], "a/b.txt", false, false);
        // Below a directory target: listed entries only.
        check(&[("a/x/y.rs", false, true)], "a", true, true);
        check(&[("a/target/y.o", false, false)], "a", true, false);
        check(&[("ab/y.rs", false, true)], "a", true, false);
        // A directory above the target renamed or removed.
        check(&[("a", true, true)], "a/b.txt", false, true);
        check(&[("a", false, true)], "a/b.txt", false, false);
        // Another root.
        let mut other = batch(&[("a/b.txt", false, true)]);
        other.changed[0].loc.root = 1;
        assert!(!other.touches(&Target {
            loc: loc("a/b.txt"),
            subtree: false,
            unlisted_too: false
        }));
        // Lost events touch everything.
        let everything = Batch { everything: true, ..Batch::default() };
        assert!(everything.touches(&Target { loc: loc("z"), subtree: false, unlisted_too: false }));
        // A subscription to an ignored directory hears about what is in it.
        let ignored = Target { loc: loc("build"), subtree: true, unlisted_too: true };
        assert!(batch(&[("build/out.o", false, false)]).touches(&ignored));
    }

    #[test]
    fn running_out_of_watches_falls_back_to_polling_the_subscribed_paths() {
        use crate::sandbox::root::{Mode as RootMode, Root};
        use cap_std::fs::Dir;

        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().canonicalize().unwrap();
        std::fs::write(path.join("a.txt"), "one").unwrap();
        let dir = Dir::open_ambient_dir(&path, cap_std::ambient_authority()).unwrap();
        let root = Root::new(path.clone(), path.clone(), RootMode::Writable, dir);
        let sandbox = Arc::new(Sandbox::new(vec![root], Default::default(), None));
        let options = Options {
            mode: Mode::Auto,
            debounce: Duration::from_millis(10),
            poll_interval: Duration::from_millis(10),
        };
        let watcher = Watcher::new(options);
        let (tx, batches) = channel();
        watcher.start(Arc::clone(&sandbox), Vec::new(), move |b| drop(tx.send(b))).unwrap();
        // What notify reports when inotify runs out of watches while it adds a new directory.
        let err = notify::Error::new(notify::ErrorKind::MaxFilesWatch).add_path(path.join("new"));
        watcher.tx.send(Msg::Event(Err(err))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !watcher.is_polled(0) {
            assert!(Instant::now() < deadline, "the root never fell back to polling");
            std::thread::sleep(Duration::from_millis(5));
        }
        let target = Target { loc: loc("a.txt"), subtree: false, unlisted_too: false };
        watcher.track(&sandbox, target.clone());
        // The native watch is gone (a new untracked file goes unseen); polling sees the
        // subscribed file change.
        std::fs::write(path.join("b.txt"), "untracked").unwrap();
        std::fs::write(path.join("a.txt"), "two").unwrap();
        let batch = batches.recv_timeout(Duration::from_secs(20)).expect("a polled change");
        assert!(batch.touches(&target), "{batch:?}");
        assert!(!batch.list_changed, "{batch:?}");
        assert!(batch.changed.iter().all(|c| c.loc == target.loc), "{batch:?}");
    }

    #[test]
    fn rules_files() {
        for (path, listed, expected) in [
            (".gitignore", true, Some("")),
            ("src/.ignore", true, Some("src")),
            ("node_modules/x/.gitignore", false, None),
            (".git/info/exclude", false, Some("")),
            ("sub/.git/info/exclude", false, Some("sub")),
            ("exclude", true, None),
            ("gitignore", true, None),
        ] {
            let dir = rules_dir(&RelPath::parse(path).unwrap(), listed);
            assert_eq!(dir.as_ref().map(RelPath::as_str), expected, "{path}");
        }
    }
}
