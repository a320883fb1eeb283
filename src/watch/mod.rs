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

pub(crate) mod index;
pub(crate) mod poll;
mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::sandbox::listing::Visibility;
use crate::sandbox::{Loc, Sandbox};
use index::Index;
use poll::Poller;
use state::{Msg, State};

/// Distinct paths one batch tracks at most; beyond, the batch counts as "anything may have
/// changed" (like the kernel's queue overflowing), which bounds the watcher's memory.
pub(crate) const MAX_PENDING_PATHS: usize = 200_000;
/// How long changes must settle before a batch is sent, unless configured otherwise.
pub(crate) const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// The longest debounce `--debounce` accepts.
pub(crate) const MAX_DEBOUNCE: Duration = Duration::from_secs(10);
/// How often polled paths are checked, unless configured otherwise.
pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest poll interval `--poll-interval` accepts.
pub(crate) const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// A batch is sent at the latest this many debounce intervals after its first event, so a file
/// that never stops changing (a log being written) still produces notifications.
pub(crate) const MAX_WINDOW_FACTOR: u32 = 10;

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The system's watcher on every root; polling for subscribed paths where it fails.
    Auto,
    /// Polling the subscribed paths and the databases only.
    Poll,
    /// No watching and no change notifications.
    Off,
}

/// The watcher's settings.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// How changes are noticed.
    pub(crate) mode: Mode,
    /// How long changes must settle before a batch is sent.
    pub(crate) debounce: Duration,
    /// How often polled paths are checked.
    pub(crate) poll_interval: Duration,
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
pub(crate) struct Target {
    /// The path (symlinks already resolved by the caller).
    pub(crate) loc: Loc,
    /// Whether entries below `loc` count too.
    pub(crate) subtree: bool,
    /// Whether entries below count even if ignore rules exclude them (a subscription to an
    /// ignored directory, such as `build/`, is about what is in it).
    pub(crate) unlisted_too: bool,
}

impl Target {
    /// A target for `loc`: the path alone, or (`subtree`) everything below it that a listing
    /// would show, or everything below it if the directory itself is ignored.
    pub(crate) fn new(sandbox: &Sandbox, loc: Loc, subtree: bool) -> Target {
        let unlisted_too = subtree && {
            let root = &sandbox.roots()[loc.root()];
            !Visibility::default().is_listed(root, loc.root(), loc.rel(), true)
        };
        Target { loc, subtree, unlisted_too }
    }
}

/// One path that changed in a batch.
#[derive(Debug, Clone)]
pub(crate) struct Changed {
    /// Where.
    pub(crate) loc: Loc,
    /// Created, removed or renamed (as opposed to written).
    pub(crate) structural: bool,
    /// Whether resources/list would list it (ignore rules, `.git`, temporary files).
    pub(crate) listed: bool,
}

/// Changes that settled together.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The paths that changed, sorted by root and path.
    pub(crate) changed: Vec<Changed>,
    /// Whether the set of listed files changed.
    pub(crate) list_changed: bool,
    /// The watcher lost events (the kernel's queue overflowed): anything may have changed.
    pub(crate) everything: bool,
    /// Keys of the extra files that were touched.
    pub(crate) extra: Vec<usize>,
}

impl Batch {
    /// Whether nothing happened.
    pub(crate) fn is_empty(&self) -> bool {
        self.changed.is_empty() && !self.list_changed && !self.everything && self.extra.is_empty()
    }

    /// Whether a change in this batch concerns `target`: the path itself changed, a listed entry
    /// below a directory target changed, or a directory above the target was created, removed or
    /// renamed. A subscribed ignored file is still reported; ignored entries below a directory
    /// target are not.
    pub(crate) fn touches(&self, target: &Target) -> bool {
        self.everything
            || self.changed.iter().any(|c| {
                c.loc.root() == target.loc.root()
                    && (c.loc.rel() == target.loc.rel()
                        || (target.subtree
                            && (c.listed || target.unlisted_too)
                            && c.loc.rel().starts_with(target.loc.rel()))
                        || (c.structural && target.loc.rel().starts_with(c.loc.rel())))
            })
    }
}

/// Extra files to watch outside the roots' recursive watches (a database, its `-wal` and
/// `-journal`), reported by `key` when any of them is touched.
#[derive(Debug, Clone)]
pub(crate) struct ExtraFile {
    /// Reported in `Batch::extra`.
    pub(crate) key: usize,
    /// The host paths (absolute); their parent directories are watched.
    pub(crate) paths: Vec<PathBuf>,
}

/// The watcher: create it with the server, start it after the handshake. Subscriptions tell it
/// what they cover (`track`/`untrack`) so that it can poll those paths where it must.
pub(crate) struct Watcher {
    tx: Sender<Msg>,
    rx: Mutex<Option<Receiver<Msg>>>,
    options: Options,
    /// Per root, whether it is polled (shared with the watch thread, which sets it).
    polled: OnceLock<Arc<Vec<AtomicBool>>>,
}

impl Watcher {
    /// A watcher that does nothing until `start`.
    pub(crate) fn new(options: Options) -> Watcher {
        let (tx, rx) = channel();
        Watcher { tx, rx: Mutex::new(Some(rx)), options, polled: OnceLock::new() }
    }

    /// The settings.
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Starts watching on a thread of its own and returns at once; `sink` receives every
    /// non-empty batch. Does nothing if already started or if the mode is `Off`.
    ///
    /// Errors: the thread could not be started.
    pub(crate) fn start(
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
    pub(crate) fn is_polled(&self, idx: usize) -> bool {
        self.polled
            .get()
            .is_some_and(|p| p.get(idx).is_some_and(|flag| flag.load(Ordering::Relaxed)))
    }

    /// A subscription now covers `target`. Blocking: if the target's root is polled, this notes
    /// what the target looks like now (a `stat`, or a walk for a directory), so a change made
    /// right after subscribing is not mistaken for the starting point.
    pub(crate) fn track(&self, sandbox: &Sandbox, target: Target) {
        let now = self
            .is_polled(target.loc.root())
            .then(|| poll::fingerprint(&sandbox.roots()[target.loc.root()], &target));
        let _ = self.tx.send(Msg::Track(target, now));
    }

    /// A subscription no longer covers `target` (one `untrack` per `track`).
    pub(crate) fn untrack(&self, target: Target) {
        let _ = self.tx.send(Msg::Untrack(target));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::path::RelPath;

    fn loc(path: &str) -> Loc {
        Loc::for_test(0, RelPath::parse(path).unwrap())
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
        other.changed[0].loc = Loc::for_test(1, RelPath::parse("a/b.txt").unwrap());
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
}
