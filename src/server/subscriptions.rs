//! Live resources: what clients subscribed to, and turning the watcher's batches into
//! notifications in both protocol eras.
//!
//! The watcher (`watch`) sends batches to a pump task, which confirms database changes with
//! `PRAGMA data_version` (`db::monitor`) and publishes a `Notice` on a broadcast channel.
//! Legacy sessions (`initialize`) subscribe with `resources/subscribe`; one forwarder task sends
//! `notifications/resources/updated` for each subscribed URI a notice touches, and
//! `list_changed` when the set of resources changed. Modern clients (2026-07-28) each hold a
//! `subscriptions/listen` request, served by `Server::listen_loop` through rmcp's tagged sink.
//! A receiver that falls behind gets `list_changed` (and updates for everything it covers) instead
//! of silently losing events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{ResourceUpdatedNotificationParam, SubscriptionFilter};
use rmcp::service::SubscriptionContext;
use rmcp::{ErrorData, Peer, RoleServer};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::db::Databases;
use crate::db::monitor::Monitor;
use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::server::errors::resource_error;
use crate::server::uri::{SqliteUri, parse_sqlite_uri};
use crate::watch::{self, Batch, ExtraFile, Target, Watcher};

/// Notices a slow receiver may fall behind by before it is told to re-list.
const CHANNEL_CAPACITY: usize = 256;

/// What one subscribed URI covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Covered {
    /// A file or directory (the path as given and, if a symlink led elsewhere, its target).
    Files(Vec<Target>),
    /// A database (by position): its schema and every table.
    Database(usize),
}

/// One settled set of changes, as subscribers see it.
#[derive(Debug)]
pub(crate) struct Notice {
    files: Batch,
    databases: Vec<usize>,
    list_changed: bool,
}

impl Notice {
    fn touches(&self, covered: &Covered) -> bool {
        match covered {
            Covered::Files(targets) => targets.iter().any(|t| self.files.touches(t)),
            Covered::Database(idx) => self.databases.contains(idx) || self.files.everything,
        }
    }
}

/// The watcher, the channel its notices go out on, and the legacy session's subscriptions.
pub(crate) struct Subscriptions {
    watcher: Watcher,
    notices: broadcast::Sender<Arc<Notice>>,
    /// Legacy `resources/subscribe`: URI → what it covers.
    legacy: Mutex<HashMap<String, Covered>>,
}

impl Subscriptions {
    pub(crate) fn new(options: watch::Options) -> Subscriptions {
        Subscriptions {
            watcher: Watcher::new(options),
            notices: broadcast::channel(CHANNEL_CAPACITY).0,
            legacy: Mutex::new(HashMap::new()),
        }
    }

    /// Whether change notifications are on (not `--watch off`).
    pub(crate) fn enabled(&self) -> bool {
        self.watcher.options().mode != watch::Mode::Off
    }

    /// Blocking (see `Watcher::track`): call it off the async threads.
    fn track(&self, sandbox: &Sandbox, covered: &Covered) {
        if let Covered::Files(targets) = covered {
            targets.iter().for_each(|t| self.watcher.track(sandbox, t.clone()));
        }
    }

    fn untrack(&self, covered: &Covered) {
        if let Covered::Files(targets) = covered {
            targets.iter().for_each(|t| self.watcher.untrack(t.clone()));
        }
    }

    fn legacy(&self) -> std::sync::MutexGuard<'_, HashMap<String, Covered>> {
        self.legacy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the watcher thread and the pump task. Called once the session exists, so a large
    /// tree never delays the handshake.
    pub(crate) fn start(&self, sandbox: Arc<Sandbox>, databases: Arc<Databases>) {
        if !self.enabled() {
            return;
        }
        let extra = databases
            .all()
            .iter()
            .enumerate()
            .map(|(key, db)| {
                let path = db.path();
                let with = |suffix: &str| {
                    let mut name = path.as_os_str().to_owned();
                    name.push(suffix);
                    std::path::PathBuf::from(name)
                };
                ExtraFile { key, paths: vec![path.to_path_buf(), with("-wal"), with("-journal")] }
            })
            .collect();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Err(err) = self.watcher.start(sandbox, extra, move |batch| drop(tx.send(batch))) {
            tracing::warn!(error = %err, "cannot start the file watcher; change notifications are off");
            return;
        }
        tokio::spawn(pump(rx, databases, self.notices.clone()));
    }
}

/// After a database event whose check found no commit, the database is checked again after each
/// of these delays. A WAL commit appends its frames to `-wal` (the event) and only then marks
/// them committed in the `-shm` index, which is memory-mapped and raises no event: a check that
/// runs between the two sees nothing new, and without a later look the commit would go unheard.
const RECHECKS: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(50),
    std::time::Duration::from_millis(250),
    std::time::Duration::from_secs(1),
];

/// Confirms database changes and publishes each batch as a notice.
///
/// Long because it is one event loop: the batches, the debounce of database checks and the
/// publishing share its state, which split functions would have to pass back and forth.
async fn pump(
    mut batches: tokio::sync::mpsc::UnboundedReceiver<Batch>,
    databases: Arc<Databases>,
    notices: broadcast::Sender<Arc<Notice>>,
) {
    let paths: Vec<_> = databases.all().iter().map(|d| d.path().to_path_buf()).collect();
    let paths = Arc::new(paths);
    let to_open = Arc::clone(&paths);
    let opened = tokio::task::spawn_blocking(move || {
        let paths = to_open;
        paths
            .iter()
            .map(|p| {
                Monitor::open(p)
                    .inspect_err(|e| tracing::warn!(database = %p.display(), error = %e, "cannot monitor a database for changes"))
                    .ok()
            })
            .collect::<Vec<_>>()
    })
    .await;
    let Ok(mut monitors) = opened else { return };
    // Databases to look at again (see `RECHECKS`): when, which, and how many looks so far.
    let mut rechecks: Vec<(tokio::time::Instant, usize, usize)> = Vec::new();
    loop {
        let next_recheck = rechecks.iter().map(|(at, ..)| *at).min();
        let batch = tokio::select! {
            batch = batches.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
            () = sleep_until_or_forever(next_recheck) => {
                let now = tokio::time::Instant::now();
                let (due, later): (Vec<_>, Vec<_>) =
                    rechecks.drain(..).partition(|(at, ..)| *at <= now);
                rechecks = later;
                let mut batch = Batch::default();
                for (_, idx, looks) in due {
                    if !batch.extra.contains(&idx) {
                        batch.extra.push(idx);
                    }
                    if let Some(delay) = RECHECKS.get(looks) {
                        rechecks.push((now + *delay, idx, looks + 1));
                    }
                }
                batch
            }
        };
        let mut list_changed = batch.list_changed;
        let mut changed_dbs = Vec::new();
        let to_check: Vec<usize> =
            if batch.everything { (0..monitors.len()).collect() } else { batch.extra.clone() };
        if !to_check.is_empty() {
            let paths = Arc::clone(&paths);
            let checking = to_check.clone();
            let checked = tokio::task::spawn_blocking(move || {
                let mut found = Vec::new();
                for idx in checking {
                    let Some(slot) = monitors.get_mut(idx) else { continue };
                    let Some(monitor) = slot else {
                        // It could not be opened before: try again, and call it a change either
                        // way (nothing was being compared).
                        *slot = Monitor::open(&paths[idx]).ok();
                        found.push((idx, slot.is_some()));
                        continue;
                    };
                    match monitor.check() {
                        Ok(change) => {
                            if change.data {
                                found.push((idx, change.tables));
                            }
                        }
                        Err(err) => {
                            // Cannot tell: say it changed, so no subscriber misses a commit.
                            tracing::debug!(error = %err, "checking a database for changes");
                            found.push((idx, false));
                        }
                    }
                }
                (monitors, found)
            })
            .await;
            let Ok((back, found)) = checked else { return };
            monitors = back;
            for idx in to_check {
                let changed = found.iter().any(|(i, _)| *i == idx);
                let pending = rechecks.iter().any(|(_, i, _)| *i == idx);
                if changed {
                    // Seen: no need to look again for this event.
                    rechecks.retain(|(_, i, _)| *i != idx);
                } else if !pending {
                    rechecks.push((tokio::time::Instant::now() + RECHECKS[0], idx, 1));
                }
            }
            for (idx, tables) in found {
                changed_dbs.push(idx);
                list_changed |= tables;
            }
        }
        let notice = Notice { list_changed, databases: changed_dbs, files: batch };
        if notice.list_changed || !notice.files.changed.is_empty() || !notice.databases.is_empty() {
            // No receivers is fine: nobody is listening yet.
            let _ = notices.send(Arc::new(notice));
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_or_forever(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends the legacy session's notifications until the client goes away.
pub(crate) async fn forward_legacy(server: Server, peer: Peer<RoleServer>) {
    let subs = &server.shared.subscriptions;
    let mut rx = subs.notices.subscribe();
    loop {
        let (list_changed, uris): (bool, Vec<String>) = match rx.recv().await {
            Ok(notice) => {
                let mut uris: Vec<String> = subs
                    .legacy()
                    .iter()
                    .filter(|(_, covered)| notice.touches(covered))
                    .map(|(uri, _)| uri.clone())
                    .collect();
                // In URI order, so a directory's update comes before its files'.
                uris.sort_unstable();
                (notice.list_changed, uris)
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    "change notifications fell behind; asking the client to re-list"
                );
                (true, subs.legacy().keys().cloned().collect())
            }
            Err(RecvError::Closed) => return,
        };
        if list_changed && peer.notify_resource_list_changed().await.is_err() {
            return;
        }
        for uri in uris {
            let param = ResourceUpdatedNotificationParam::new(uri);
            if peer.notify_resource_updated(param).await.is_err() {
                return;
            }
        }
    }
}

impl Server {
    /// What a subscription to `uri` covers. Refused exactly like a read of it: resource-not-found
    /// for anything outside the allowed directories, an unknown database or a URI of no resource,
    /// invalid-params for a malformed path. A file that does not exist yet, or a table not created yet, may be subscribed to.
    pub(crate) fn covered_by(&self, uri: &str) -> Result<Covered, ErrorData> {
        let data = Some(json!({ "uri": uri }));
        if uri.starts_with("sqlite:") {
            let not_found = || {
                ErrorData::resource_not_found(format!("resource not found: {uri}"), data.clone())
            };
            let (Some(SqliteUri::Schema { db }) | Some(SqliteUri::Table { db, .. })) =
                parse_sqlite_uri(uri)
            else {
                return Err(not_found());
            };
            return match self.shared.databases.all().iter().position(|d| d.name() == db) {
                Some(idx) => Ok(Covered::Database(idx)),
                None => Err(not_found()),
            };
        }
        if !uri.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("file://")) {
            return Err(ErrorData::resource_not_found(format!("resource not found: {uri}"), data));
        }
        let sandbox = &self.shared.sandbox;
        let loc = sandbox.locate(uri).map_err(|e| resource_error(uri, &e))?;
        let (resolved_loc, resolved) =
            sandbox.resolve(uri, &loc, true).map_err(|e| resource_error(uri, &e))?;
        let subtree = uri.ends_with('/') || resolved.meta.as_ref().is_some_and(|m| m.is_dir());
        let mut targets = vec![Target::new(sandbox, resolved_loc.clone(), subtree)];
        if resolved_loc != loc {
            targets.push(Target::new(sandbox, loc, subtree));
        }
        Ok(Covered::Files(targets))
    }

    /// Legacy `resources/subscribe`.
    pub(crate) async fn subscribe_uri(&self, uri: String) -> Result<(), ErrorData> {
        let subs = &self.shared.subscriptions;
        if !subs.enabled() {
            return Err(watch_off());
        }
        if !uri.starts_with("sqlite:") {
            self.roots_ready().await;
        }
        let server = self.clone();
        self.spawn_blocking(move || {
            let covered = server.covered_by(&uri)?;
            let subs = &server.shared.subscriptions;
            if subs.legacy().contains_key(&uri) {
                return Ok(());
            }
            // Tracking may walk a directory: not while holding the lock.
            subs.track(&server.shared.sandbox, &covered);
            if let Some(raced) = subs.legacy().insert(uri, covered) {
                subs.untrack(&raced);
            }
            Ok(())
        })
        .await
        .map_err(|e| crate::server::errors::join_error("subscribing", e))?
    }

    /// Drops the legacy subscriptions the client may no longer see (its roots narrowed). Checking
    /// a URI touches the file system, so it runs on the blocking pool.
    pub(crate) async fn recheck_subscriptions(&self) {
        let server = self.clone();
        let checked = self
            .spawn_blocking(move || {
                let subs = &server.shared.subscriptions;
                let uris: Vec<String> = subs.legacy().keys().cloned().collect();
                for uri in uris {
                    if server.covered_by(&uri).is_err() {
                        tracing::debug!(uri = %uri, "dropping a subscription outside the client's roots");
                        server.unsubscribe_uri(&uri);
                    }
                }
            })
            .await;
        if let Err(err) = checked {
            crate::server::errors::join_error("checking subscriptions", err);
        }
    }

    /// Legacy `resources/unsubscribe`; unsubscribing from something not subscribed is a no-op.
    pub(crate) fn unsubscribe_uri(&self, uri: &str) {
        let subs = &self.shared.subscriptions;
        if let Some(covered) = subs.legacy().remove(uri) {
            subs.untrack(&covered);
        }
    }

    /// The part of a `subscriptions/listen` filter this server can serve: `list_changed` as
    /// asked, and the resource URIs it could subscribe to (others are left out of the
    /// acknowledgment, which is how the client learns they were refused).
    pub(crate) fn accept_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        if !self.shared.subscriptions.enabled() {
            return None;
        }
        let mut accepted = requested.clone();
        if let Some(uris) = &requested.resource_subscriptions {
            // rmcp asks this synchronously, on an async worker, and checking a URI touches the
            // file system (symlinks, ignore files): the worker hands its other tasks over first.
            let valid: Vec<String> = off_the_async_threads(|| {
                uris.iter().filter(|uri| self.covered_by(uri).is_ok()).cloned().collect()
            });
            accepted.resource_subscriptions = (!valid.is_empty()).then_some(valid);
        }
        Some(accepted)
    }

    /// Serves one `subscriptions/listen` request until the client cancels it or goes away.
    pub(crate) async fn listen_loop(&self, cx: SubscriptionContext) -> Result<(), ErrorData> {
        let subs = &self.shared.subscriptions;
        let list_changed = cx.accepted().resources_list_changed == Some(true);
        // Receive from now on, before resolving the URIs, so nothing between the
        // acknowledgment and the first notice is missed.
        let mut rx = subs.notices.subscribe();
        let uris = cx.accepted().resource_subscriptions.clone().unwrap_or_default();
        let server = self.clone();
        let covered: Vec<(String, Covered)> = self
            .spawn_blocking(move || {
                let covered: Vec<(String, Covered)> = uris
                    .into_iter()
                    .filter_map(|uri| server.covered_by(&uri).ok().map(|c| (uri, c)))
                    .collect();
                let sandbox = &server.shared.sandbox;
                covered.iter().for_each(|(_, c)| server.shared.subscriptions.track(sandbox, c));
                covered
            })
            .await
            .map_err(|e| crate::server::errors::join_error("starting a subscription", e))?;
        let _untrack = Untrack { subs, covered: &covered };
        loop {
            let notice = tokio::select! {
                () = cx.cancelled() => return Ok(()),
                notice = rx.recv() => notice,
            };
            let (relist, uris): (bool, Vec<&String>) = match notice {
                Ok(notice) => (
                    notice.list_changed,
                    covered.iter().filter(|(_, c)| notice.touches(c)).map(|(u, _)| u).collect(),
                ),
                Err(RecvError::Lagged(_)) => (true, covered.iter().map(|(u, _)| u).collect()),
                Err(RecvError::Closed) => return Ok(()),
            };
            if relist && list_changed && cx.sink().notify_resource_list_changed().await.is_err() {
                return Ok(());
            }
            for uri in uris {
                if cx.sink().notify_resource_updated(uri.clone()).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// Untracks a listen request's paths however it ends.
struct Untrack<'a> {
    subs: &'a Subscriptions,
    covered: &'a [(String, Covered)],
}

impl Drop for Untrack<'_> {
    fn drop(&mut self) {
        self.covered.iter().for_each(|(_, c)| self.subs.untrack(c));
    }
}

fn watch_off() -> ErrorData {
    ErrorData::invalid_request(
        "change notifications are off (the server was started with --watch off); restart it without that flag to subscribe",
        None,
    )
}

/// Runs blocking `work` from synchronous code on an async worker thread: on the multi-threaded
/// runtime the worker first hands its other tasks to another thread (`block_in_place`), so no
/// request waits behind the file system. Elsewhere (a unit test's runtime) it simply runs.
fn off_the_async_threads<T>(work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread { tokio::task::block_in_place(work) } else { work() }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::db::query::DbLimits;
    use crate::db::{Databases, DbSpec};

    use super::*;

    /// A WAL commit whose event came too early (the check saw nothing yet) and that raised no
    /// event of its own is still reported, by the follow-up checks.
    #[tokio::test]
    async fn a_commit_missed_by_the_check_after_its_event_is_still_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x);").unwrap();
        let spec = DbSpec { name: "live".into(), path: path.clone(), writable: false };
        let databases =
            Arc::new(Databases::open(&[spec], &DbLimits::default()).map_err(|(_, e)| e).unwrap());
        let (notices, mut rx) = broadcast::channel(16);
        let (batches, batch_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(pump(batch_rx, databases, notices));
        let wait = Duration::from_secs(20);
        // Commits with their events until one is reported: then the monitor has its baseline
        // (it opens in the background, and a commit before that is no change to it).
        let started = std::time::Instant::now();
        loop {
            writer.execute("INSERT INTO t VALUES (0)", []).unwrap();
            batches.send(Batch { extra: vec![0], ..Batch::default() }).unwrap();
            match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
                Ok(notice) => {
                    assert_eq!(notice.unwrap().databases, vec![0]);
                    break;
                }
                Err(_) => assert!(started.elapsed() < wait, "no commit was ever reported"),
            }
        }
        // Follow-up checks of that event may still be pending: let them pass.
        tokio::time::sleep(RECHECKS.iter().sum::<Duration>() + Duration::from_millis(100)).await;
        while rx.try_recv().is_ok() {}
        // An event that arrives before its commit is visible: nothing to report yet. (Should the
        // commit below land before this check, the check reports it: the test cannot fail
        // that way, only pass for another reason.)
        batches.send(Batch { extra: vec![0], ..Batch::default() }).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The commit becomes visible with no event of its own.
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let notice = tokio::time::timeout(wait, rx.recv())
            .await
            .expect("the commit is reported by a follow-up check")
            .unwrap();
        assert_eq!(notice.databases, vec![0]);
    }
}
