//! Polling, where the native watcher cannot help: the subscribed paths under roots it does not
//! cover, and the extra files (databases) when their directories cannot be watched. Only what a
//! subscription covers is polled, never a whole tree: a file costs one `stat` per interval, a
//! directory one walk of its listed entries.
//!
//! notify's own `PollWatcher` compares modification times in whole seconds, so two saves within
//! a second would look like one; this poller compares size, nanosecond modification time and
//! inode, and reaches files through the root's capability handle like every other access.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cap_std::fs::Metadata;

use crate::sandbox::listing::{Flow, walk_listed};
use crate::sandbox::platform;
use crate::sandbox::root::Root;
use crate::sandbox::{Loc, Sandbox};
use crate::watch::{Batch, Changed, ExtraFile, Target};

/// A polled directory is checked at most once per this many times its last walk took, so polling
/// a huge subscribed directory costs at most a twentieth of a core.
const WALK_COST_FACTOR: u32 = 20;

/// The subscribed paths, with how many subscriptions cover each and what they looked like.
pub(crate) struct Poller {
    interval: Duration,
    next: Instant,
    targets: HashMap<Target, Polled>,
    extra: Vec<(usize, Vec<PathBuf>, u64)>,
}

struct Polled {
    /// Subscriptions covering the target.
    count: usize,
    /// Its last fingerprint, if taken.
    last: Option<u64>,
    /// Not checked again before this.
    not_before: Instant,
}

impl Poller {
    /// A poller over nothing yet; `extra` are polled when their watch failed.
    pub(crate) fn new(interval: Duration, extra: &[ExtraFile]) -> Poller {
        Poller {
            interval,
            next: Instant::now() + interval,
            targets: HashMap::new(),
            extra: extra
                .iter()
                .map(|x| (x.key, x.paths.clone(), host_fingerprint(&x.paths)))
                .collect(),
        }
    }

    /// When the next poll is due, if anything needs polling.
    pub(crate) fn next_due(&self, polled: &[bool], extra_polled: bool) -> Option<Instant> {
        let any = (extra_polled && !self.extra.is_empty())
            || self.targets.keys().any(|t| polled.get(t.loc.root()).copied().unwrap_or(false));
        any.then_some(self.next)
    }

    /// One more subscription covers `target`; `now` is what it looked like when subscribed (if
    /// its root was polled then; otherwise the next poll takes the starting point).
    pub(crate) fn track(&mut self, target: Target, now: Option<u64>) {
        let fresh = Polled { count: 0, last: now, not_before: Instant::now() };
        self.targets.entry(target).or_insert(fresh).count += 1;
    }

    /// Whether a subscription names `loc`, a directory above it, or something below it.
    pub(crate) fn covers(&self, loc: &Loc) -> bool {
        self.targets.keys().any(|t| {
            t.loc.root() == loc.root()
                && ((t.subtree && loc.rel().starts_with(t.loc.rel()))
                    || t.loc.rel().starts_with(loc.rel()))
        })
    }

    /// The targets below root `idx`.
    pub(crate) fn targets_in(&self, idx: usize) -> Vec<Target> {
        self.targets.keys().filter(|t| t.loc.root() == idx).cloned().collect()
    }

    /// One subscription less covers `target`.
    pub(crate) fn untrack(&mut self, target: &Target) {
        if let Some(polled) = self.targets.get_mut(target) {
            polled.count -= 1;
            if polled.count == 0 {
                self.targets.remove(target);
            }
        }
    }

    /// Checks every polled target and extra file, adding what changed to `batch`.
    pub(crate) fn poll(
        &mut self,
        sandbox: &Sandbox,
        polled: &[bool],
        extra_polled: bool,
        batch: &mut Batch,
    ) {
        for (target, state) in &mut self.targets {
            let started = Instant::now();
            if !polled.get(target.loc.root()).copied().unwrap_or(false)
                || started < state.not_before
            {
                continue;
            }
            let now = Some(fingerprint(&sandbox.roots()[target.loc.root()], target));
            state.not_before = started + started.elapsed() * WALK_COST_FACTOR;
            if state.last.is_some() && now != state.last {
                batch.changed.push(Changed {
                    loc: target.loc.clone(),
                    structural: false,
                    listed: true,
                });
            }
            state.last = now;
        }
        if extra_polled {
            for (key, paths, last) in &mut self.extra {
                let now = host_fingerprint(paths);
                if now != *last {
                    *last = now;
                    batch.extra.push(*key);
                }
            }
        }
        self.next = Instant::now() + self.interval;
    }
}

/// A hash of what a target looks like: the entry's kind, size, modification time and inode, or
/// for a directory target the same for every listed entry below it.
pub(crate) fn fingerprint(root: &Root, target: &Target) -> u64 {
    let mut hasher = DefaultHasher::new();
    let meta = root.dir().symlink_metadata(target.loc.rel().as_path()).ok();
    hash_meta(meta.as_ref(), &mut hasher);
    if target.subtree && meta.as_ref().is_some_and(Metadata::is_dir) {
        let _ = walk_listed(root, target.loc.rel(), &mut |entry| {
            entry.rel.hash(&mut hasher);
            hash_meta(entry.metadata().ok().as_ref(), &mut hasher);
            Flow::Continue
        });
    }
    hasher.finish()
}

fn hash_meta(meta: Option<&Metadata>, hasher: &mut DefaultHasher) {
    match meta {
        None => 0u8.hash(hasher),
        Some(meta) => {
            1u8.hash(hasher);
            meta.is_dir().hash(hasher);
            meta.len().hash(hasher);
            meta.modified().ok().map(|t| t.into_std()).hash(hasher);
            platform::file_id(meta).hash(hasher);
            platform::change_stamp(meta).hash(hasher);
        }
    }
}

/// The same for host paths (a database and its journals), by their size and modification time.
fn host_fingerprint(paths: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for path in paths {
        platform::host_stamp(path).hash(&mut hasher);
    }
    hasher.finish()
}
