//! The journal's own rules: entries survive a reopen, saved contents are kept once and bounded,
//! pruning at both bounds, and two servers sharing one directory.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;

fn entry(target: &str) -> NewEntry {
    NewEntry {
        tool: "write_file".into(),
        target: target.into(),
        summary: format!("wrote {target}"),
        undo: json!({ "restore": target }),
    }
}

fn bounds(max_bytes: u64, days: u64, max_file: u64) -> Bounds {
    Bounds { max_bytes, max_age: Duration::from_secs(days * 24 * 3600), max_file }
}

#[test]
fn entries_and_contents_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (id, hash) = {
        let journal = Journal::open(dir.path(), Bounds::default()).unwrap();
        let id = journal.begin(&entry("/p/a.txt")).unwrap();
        let hash = journal.save(id, b"before").unwrap().unwrap();
        journal.finish(id).unwrap();
        (id, hash)
    };
    let journal = Journal::open(dir.path(), Bounds::default()).unwrap();
    let kept = journal.get(id).unwrap().unwrap();
    assert_eq!(kept.state, State::Done);
    assert_eq!(kept.undo, json!({ "restore": "/p/a.txt" }));
    assert_eq!(journal.blob(&hash).unwrap(), b"before");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn contents_over_the_per_file_bound_are_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), bounds(1 << 20, 7, 10)).unwrap();
    let id = journal.begin(&entry("/p/a")).unwrap();
    assert!(journal.save(id, &[7; 10]).unwrap().is_some(), "at the bound: saved");
    assert!(journal.save(id, &[7; 11]).unwrap().is_none(), "one over: not saved");
    assert_eq!(journal.saved_bytes().unwrap(), 10);
}

#[test]
fn identical_contents_are_kept_once_across_entries() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Bounds::default()).unwrap();
    for target in ["/p/a", "/p/b", "/p/c"] {
        let id = journal.begin(&entry(target)).unwrap();
        journal.save(id, b"same bytes").unwrap();
        journal.finish(id).unwrap();
    }
    assert_eq!(journal.saved_bytes().unwrap(), 10);
}

#[test]
fn lists_are_newest_first_and_filter_by_path_or_below() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Bounds::default()).unwrap();
    // Paths as this system writes them.
    let p = |path: &str| path.replace('/', std::path::MAIN_SEPARATOR_STR);
    for target in ["/p/a", "/p/ab", "/p/a/x", "/q/a"] {
        let id = journal.begin(&entry(&p(target))).unwrap();
        journal.finish(id).unwrap();
    }
    let targets = |list: Vec<Entry>| list.into_iter().map(|e| e.target).collect::<Vec<_>>();
    let all = ["/q/a", "/p/a/x", "/p/ab", "/p/a"].map(p);
    assert_eq!(targets(journal.list(None, None, 10).unwrap()), all);
    assert_eq!(
        targets(journal.list(Some(&p("/p/a")), None, 10).unwrap()),
        [all[1].clone(), all[3].clone()]
    );
    assert_eq!(targets(journal.list(None, None, 1).unwrap()), [all[0].clone()]);
    let newest = journal.list(None, None, 1).unwrap()[0].id;
    assert_eq!(
        targets(journal.list(None, Some(newest), 2).unwrap()),
        [all[1].clone(), all[2].clone()]
    );
}

#[test]
fn pruning_holds_both_bounds_and_keeps_pending_entries() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), bounds(25, 7, 100)).unwrap();
    let mut ids = Vec::new();
    for i in 0..4u8 {
        let id = journal.begin(&entry(&format!("/p/{i}"))).unwrap();
        journal.save(id, &[i; 10]).unwrap();
        journal.finish(id).unwrap();
        ids.push(id);
    }
    let pending = journal.begin(&entry("/p/pending")).unwrap();
    journal.save(pending, &[9; 10]).unwrap();
    // 40 bytes of finished changes, 25 allowed: the oldest go until 20 remain. The 10 bytes of
    // the change under way neither count nor go.
    assert_eq!(journal.prune(SystemTime::now()).unwrap(), 2);
    assert_eq!(journal.saved_bytes().unwrap(), 30);
    assert!(journal.get(ids[1]).unwrap().is_none());
    assert!(journal.get(ids[2]).unwrap().is_some(), "20 bytes fit in 25");
    assert!(journal.get(ids[3]).unwrap().is_some(), "the newest stays");
    assert!(journal.get(pending).unwrap().is_some(), "a pending entry stays");
    assert_eq!(walk_files(&dir.path().join("store")), 3, "the contents of the pruned are gone");
    // Age: a week and a second later, every finished entry goes.
    let later = SystemTime::now() + Duration::from_secs(7 * 24 * 3600 + 1);
    assert_eq!(journal.prune(later).unwrap(), 2);
    assert!(journal.get(ids[3]).unwrap().is_none());
    assert!(journal.get(pending).unwrap().is_some());
    // Just under a week: nothing more goes.
    let entry_now = journal.begin(&entry("/p/new")).unwrap();
    journal.finish(entry_now).unwrap();
    let almost = SystemTime::now() + Duration::from_secs(7 * 24 * 3600 - 60);
    assert_eq!(journal.prune(almost).unwrap(), 0);
}

#[test]
fn an_abandoned_entry_leaves_nothing_and_a_gone_servers_pending_ones_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Bounds::default()).unwrap();
    let id = journal.begin(&entry("/p/a")).unwrap();
    journal.save(id, b"x").unwrap();
    journal.abandon(id).unwrap();
    assert!(journal.get(id).unwrap().is_none());
    journal.prune(SystemTime::now()).unwrap();
    assert_eq!(journal.saved_bytes().unwrap(), 0);
    assert_eq!(walk_files(&dir.path().join("store")), 0);
    // This server's own pending entries are never another's to settle.
    journal.begin(&entry("/p/b")).unwrap();
    assert!(journal.pending_of_gone(|_| true).unwrap().is_empty());
    journal.conn().execute("UPDATE entries SET server = 1 WHERE target = '/p/b'", []).unwrap();
    let found = journal.pending_of_gone(|server| server == 1).unwrap();
    assert_eq!(found.len(), 1);
    journal.mark_incomplete(found[0].id, "the server stopped mid-change").unwrap();
    assert_eq!(journal.get(found[0].id).unwrap().unwrap().state, State::Incomplete);
}

#[test]
fn a_server_is_alive_while_it_holds_its_lock_file_and_gone_after() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Bounds::default()).unwrap();
    assert!(!journal.server_gone(journal.server_id()), "this server is alive");
    // The same process opening it again is another server, alive too, with an id of its own.
    let again = Journal::open(dir.path(), Bounds::default()).unwrap();
    assert_ne!(again.server_id(), journal.server_id());
    assert!(!journal.server_gone(again.server_id()));
    let gone = again.server_id();
    drop(again);
    assert!(journal.server_gone(gone), "its lock went with it");
    assert!(journal.server_gone(4_000_001), "no lock file: gone");
    // Another server (here a second handle, which locks apart from the first) holding its file.
    let path = dir.path().join("servers").join("4000002.lock");
    let other = std::fs::File::create(&path).unwrap();
    other.lock().unwrap();
    assert!(!journal.server_gone(4_000_002), "its lock is held: alive");
    drop(other);
    assert!(journal.server_gone(4_000_002), "its lock went with it: gone");
    assert!(!path.exists(), "the stale lock file is removed");
}

#[test]
fn two_servers_sharing_a_directory_keep_every_entry_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Small bounds, so each also prunes while the other saves.
                let journal = Journal::open(&path, bounds(4000, 7, 100)).unwrap();
                for i in 0..100u32 {
                    let id = journal.begin(&entry(&format!("/w{w}/{i}"))).unwrap();
                    let shared = [((i % 7) as u8); 40];
                    journal.save(id, &shared).unwrap().unwrap();
                    // Half are abandoned: their contents become unused, and the other server's
                    // prune removes them while this one saves the same bytes again.
                    if i % 2 == 0 {
                        journal.abandon(id).unwrap();
                    } else {
                        journal.finish(id).unwrap();
                    }
                    journal.prune(SystemTime::now()).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let journal = Journal::open(&path, bounds(4000, 7, 100)).unwrap();
    for entry in journal.list(None, None, 1000).unwrap() {
        let hashes: Vec<String> = {
            let conn = journal.conn();
            let mut statement =
                conn.prepare("SELECT hash FROM entry_blobs WHERE entry = ?1").unwrap();
            statement.query_map([entry.id], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
        };
        for hash in hashes {
            journal.blob(&Hash(hash)).unwrap();
        }
    }
    assert_eq!(journal.list(None, None, 1000).unwrap().len(), 100, "the finished ones, all kept");
}

fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.map(|e| e.unwrap().path()).map(|p| if p.is_dir() { walk_files(&p) } else { 1 }).sum()
}
