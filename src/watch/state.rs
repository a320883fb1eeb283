//! The watch thread: receives notify's events and the tracking requests, debounces them into
//! batches, keeps the index of listed files up to date, and falls back to polling where native
//! watching fails (see the parent module).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::EventKindMask;
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind};
use notify::{RecursiveMode, Watcher as _};

use crate::sandbox::listing::Visibility;
use crate::sandbox::path::RelPath;
use crate::sandbox::{Loc, Sandbox};
use crate::watch::index::Index;
use crate::watch::poll::Poller;
use crate::watch::{
    Batch, Changed, ExtraFile, MAX_PENDING_PATHS, MAX_WINDOW_FACTOR, Mode, Options, Target,
};

pub(super) enum Msg {
    Event(notify::Result<notify::Event>),
    /// A target and, if its root is polled, what it looked like when subscribed.
    Track(Target, Option<u64>),
    Untrack(Target),
    Stop,
}

/// The events the system watchers are asked for: changes, and a write's close. Not opens, nor
/// metadata-only changes, which never change what a subscriber sees: asked for every open (as
/// notify does by default on Linux), a grep of 100,000 files queued 100,000 events for the
/// watcher to wake up for and discard, overflowed the kernel's queue (16,384 by default) and
/// made the watcher rescan every root as if everything had changed.
const EVENTS: EventKindMask = EventKindMask::CREATE
    .union(EventKindMask::REMOVE)
    .union(EventKindMask::MODIFY_DATA)
    .union(EventKindMask::MODIFY_NAME)
    .union(EventKindMask::ACCESS_CLOSE);

/// What a batch's event says about a path.
pub(super) const CONTENT: u8 = 1;
pub(super) const STRUCTURAL: u8 = 2;
pub(super) const DIR: u8 = 4;

/// Paths seen since the last batch.
#[derive(Default)]
pub(super) struct Pending {
    paths: HashMap<PathBuf, u8>,
    rescan: bool,
    events: u64,
}

pub(super) struct State {
    pub(super) sandbox: Arc<Sandbox>,
    pub(super) extra: Vec<ExtraFile>,
    pub(super) options: Options,
    pub(super) tx: Sender<Msg>,
    pub(super) sink: Box<dyn FnMut(Batch) + Send>,
    pub(super) native: Option<notify::RecommendedWatcher>,
    pub(super) native_extra: Option<notify::RecommendedWatcher>,
    /// Roots the native watcher does not cover: subscriptions below them are polled.
    pub(super) polled: Vec<bool>,
    /// The same, for `Watcher::track`.
    pub(super) shared_polled: Arc<Vec<AtomicBool>>,
    pub(super) extra_polled: bool,
    pub(super) poller: Poller,
    pub(super) index: Index,
    pub(super) visibility: Visibility,
    pub(super) warned_limit: bool,
}

impl State {
    ///
    /// Long because it is the watch thread's event loop: messages, the debounce window, the batch
    /// window limit and polling share its state.
    pub(super) fn run(mut self, rx: &Receiver<Msg>) {
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
        let config = notify::Config::default().with_follow_symlinks(false).with_event_kinds(EVENTS);
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
                notify::Config::default().with_event_kinds(EVENTS),
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
                    (Some(loc), notify::ErrorKind::MaxFilesWatch) => self.degrade(loc.root(), &err),
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
    ///
    /// Long because the steps of one batch depend on each other in order: rule files first, then
    /// structural changes parents first, then contents, each updating the index the next reads.
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
            let root = &self.sandbox.roots()[loc.root()];
            let is_dir = flags & DIR != 0
                || self.index.is_dir(loc.root(), loc.rel())
                || (flags & STRUCTURAL != 0 && Index::stat_is_dir(root, loc.rel()));
            let listed = self.visibility.is_listed(root, loc.root(), loc.rel(), is_dir);
            if let Some(dir) = rules_dir(loc.rel(), listed).and_then(|dir| loc.ancestor(dir)) {
                rules.push(dir);
            }
            let is_structural = flags & STRUCTURAL != 0;
            if is_structural && listed && !self.polled[loc.root()] {
                structural.push(loc.clone());
            }
            // Unlisted paths (.git/, build output) matter only to a subscription that names
            // them (or a directory above them); the rest are dropped here, not broadcast.
            if listed || self.poller.covers(&loc) {
                batch.changed.push(Changed { loc, structural: is_structural, listed });
            }
        }
        batch.changed.sort_by(|a, b| {
            a.loc.root().cmp(&b.loc.root()).then_with(|| a.loc.rel().cmp_components(b.loc.rel()))
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
        for dir in rules.iter().filter(|d| !self.polled[d.root()]) {
            let root = &self.sandbox.roots()[dir.root()];
            if self.index.refresh(root, dir.root(), dir.rel()) && in_scope(&self.sandbox, dir) {
                batch.list_changed = true;
            }
        }
        // Parents first, so a new directory's walk accounts for its children once.
        structural.sort_by_key(|loc| loc.rel().depth());
        for loc in structural {
            let root = &self.sandbox.roots()[loc.root()];
            // A change outside the client's roots is not the client's list (and must not tell
            // it when things happen there).
            if self.index.apply(root, loc.root(), loc.rel()) && in_scope(&self.sandbox, &loc) {
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
pub(super) fn rules_dir(rel: &RelPath, listed: bool) -> Option<RelPath> {
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
    use std::sync::mpsc::channel;

    use super::*;
    use crate::watch::Watcher;

    fn loc(path: &str) -> Loc {
        Loc::for_test(0, RelPath::parse(path).unwrap())
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
