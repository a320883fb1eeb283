//! Live resources through the real binary: subscriptions in both protocol eras, changes made on
//! disk by this process (as an editor, git or another program would), by the server's own tools,
//! and by other SQLite connections. Every wait has a timeout; "nothing arrives" is shown with a
//! sentinel: a later change to a subscribed file whose update must come after anything the
//! earlier change caused, since batches are delivered in order.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::{BIN, Launch, TestServer, text};

const UPDATED: &str = "notifications/resources/updated";
const LIST_CHANGED: &str = "notifications/resources/list_changed";
/// Generous: the machine running the tests may be busy.
const WAIT: Duration = Duration::from_secs(20);

fn file_uri(server: &TestServer, rel: &str) -> String {
    crate::support::file_uri(&server.path(rel))
}

/// A legacy server on a copy of `sample-data/` with a short debounce (unless `extra` sets one),
/// once its watcher is ready.
fn watched(extra: &[&str]) -> TestServer {
    let mut args = Vec::new();
    if !extra.contains(&"--debounce") {
        args.extend(["--debounce".to_owned(), "30ms".to_owned()]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let server = TestServer::builder().args(args).start();
    server.wait_stderr("watching for changes", WAIT);
    server
}

fn subscribe(server: &mut TestServer, uri: &str) {
    let response = server.request("resources/subscribe", json!({ "uri": uri }));
    assert_eq!(response["result"], json!({}), "subscribe {uri}: {response}");
}

/// Subscribes to a file under the root; returns its URI.
fn subscribe_file(server: &mut TestServer, rel: &str) -> String {
    let uri = file_uri(server, rel);
    subscribe(server, &uri);
    uri
}

fn expect_update(server: &mut TestServer, uri: &str) -> Value {
    let uri = uri.to_owned();
    server.expect_notification_where(UPDATED, WAIT, move |n| n["params"]["uri"] == uri)
}

/// How many updates for `uri` have arrived (and forgets them).
fn take_updates(server: &mut TestServer, uri: &str) -> usize {
    server.take_notifications(UPDATED).iter().filter(|n| n["params"]["uri"] == uri).count()
}

/// Changes the sentinel file and waits for its update: everything caused by earlier changes has
/// been delivered by then.
fn sync_with_sentinel(server: &mut TestServer, sentinel: &str) {
    let path = server.path(sentinel);
    let count = std::fs::read_to_string(&path).map(|s| s.len()).unwrap_or(0);
    std::fs::write(&path, "s".repeat(count + 1)).unwrap();
    let uri = file_uri(server, sentinel);
    expect_update(server, &uri);
}

fn write(server: &TestServer, rel: &str, text: &str) {
    std::fs::write(server.path(rel), text).unwrap();
}

/// Replaces a file the way editors save: a temporary file in the same directory, then rename.
fn atomic_replace(server: &TestServer, rel: &str, text: &str) {
    let tmp = server.path(&format!("{rel}.swp-tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, server.path(rel)).unwrap();
}

#[test]
fn capabilities_declare_subscribe_and_list_changed() {
    let server = watched(&[]);
    let resources = &server.initialize_result["capabilities"]["resources"];
    assert_eq!(resources["subscribe"], json!(true), "{resources}");
    assert_eq!(resources["listChanged"], json!(true), "{resources}");
}

#[test]
fn editing_in_place_and_appending_update_a_subscribed_file() {
    let mut server = watched(&[]);
    let uri = file_uri(&server, "README.md");
    subscribe(&mut server, &uri);
    write(&server, "README.md", "# rewritten in place\n");
    expect_update(&mut server, &uri);
    let mut file = std::fs::OpenOptions::new().append(true).open(server.path("README.md")).unwrap();
    std::io::Write::write_all(&mut file, b"appended\n").unwrap();
    drop(file);
    expect_update(&mut server, &uri);
    // Writing a file changes no list.
    sync_with_sentinel(&mut server, "README.md");
    assert!(server.take_notifications(LIST_CHANGED).is_empty());
}

#[test]
fn five_atomic_replaces_in_a_row_give_five_updates_and_no_list_changed() {
    let mut server = watched(&[]);
    let uri = file_uri(&server, "src/bookshop/app.py");
    subscribe(&mut server, &uri);
    for round in 0..5 {
        atomic_replace(&server, "src/bookshop/app.py", &format!("print({round})\n"));
        expect_update(&mut server, &uri);
    }
    // Everything the replaces caused has arrived once the sentinel's update has.
    subscribe_file(&mut server, "README.md");
    sync_with_sentinel(&mut server, "README.md");
    assert!(
        server.take_notifications(LIST_CHANGED).is_empty(),
        "an atomic replace is an update, not a new file"
    );
}

#[test]
fn deleting_and_recreating_update_each_time_and_change_the_list() {
    let mut server = watched(&[]);
    let uri = file_uri(&server, "docs/ordering.md");
    subscribe(&mut server, &uri);
    std::fs::remove_file(server.path("docs/ordering.md")).unwrap();
    expect_update(&mut server, &uri);
    server.expect_notification(LIST_CHANGED, WAIT);
    write(&server, "docs/ordering.md", "back again\n");
    expect_update(&mut server, &uri);
    server.expect_notification(LIST_CHANGED, WAIT);
}

#[test]
fn renaming_into_and_out_of_a_subscribed_directory_updates_it() {
    let mut server = watched(&[]);
    let dir = file_uri(&server, "docs");
    subscribe(&mut server, &dir);
    std::fs::rename(server.path("web/app.js"), server.path("docs/app.js")).unwrap();
    expect_update(&mut server, &dir);
    server.expect_notification(LIST_CHANGED, WAIT);
    std::fs::rename(server.path("docs/shelf-labels.md"), server.path("web/shelf-labels.md"))
        .unwrap();
    expect_update(&mut server, &dir);
    server.expect_notification(LIST_CHANGED, WAIT);
    // A change elsewhere does not touch the directory.
    let sentinel = file_uri(&server, "README.md");
    subscribe(&mut server, &sentinel);
    take_updates(&mut server, &dir);
    write(&server, "web/index.html", "<p>elsewhere</p>\n");
    sync_with_sentinel(&mut server, "README.md");
    assert_eq!(take_updates(&mut server, &dir), 0);
}

#[test]
fn a_new_file_or_directory_changes_the_list() {
    let mut server = watched(&[]);
    write(&server, "new.txt", "new\n");
    server.expect_notification(LIST_CHANGED, WAIT);
    // A directory moved in from outside the root brings its files.
    let outside = server.base.path().join("incoming");
    std::fs::create_dir_all(outside.join("deep")).unwrap();
    std::fs::write(outside.join("deep/file.rs"), "fn main() {}\n").unwrap();
    std::fs::rename(&outside, server.path("incoming")).unwrap();
    server.expect_notification(LIST_CHANGED, WAIT);
    // An empty directory lists nothing new.
    let sentinel = file_uri(&server, "README.md");
    subscribe(&mut server, &sentinel);
    std::fs::create_dir(server.path("empty")).unwrap();
    sync_with_sentinel(&mut server, "README.md");
    assert!(server.take_notifications(LIST_CHANGED).is_empty());
}

#[test]
fn unsubscribing_stops_updates() {
    let mut server = watched(&[]);
    let uri = file_uri(&server, "web/styles.css");
    subscribe(&mut server, &uri);
    subscribe_file(&mut server, "README.md");
    write(&server, "web/styles.css", "a {}\n");
    expect_update(&mut server, &uri);
    let response = server.request("resources/unsubscribe", json!({ "uri": uri }));
    assert_eq!(response["result"], json!({}), "{response}");
    write(&server, "web/styles.css", "b {}\n");
    sync_with_sentinel(&mut server, "README.md");
    assert_eq!(take_updates(&mut server, &uri), 0, "no update after unsubscribe");
}

/// 5,000 files appearing (as in a `git checkout`) are a handful of notifications, not 5,000. The
/// server is stopped while they appear, so the kernel queues every event and the server reads
/// them in one go: the count depends on how the server batches, not on how fast this machine
/// writes (a writer descheduled for longer than the debounce would otherwise split the burst).
/// Each file is renamed in from outside the root, one event apiece, well inside the kernel's
/// queue (16,384 events).
#[cfg(unix)]
#[test]
fn a_burst_of_5000_files_is_coalesced_into_a_few_notifications() {
    let mut server = watched(&["--debounce", "200ms"]);
    let dir = file_uri(&server, "burst");
    std::fs::create_dir(server.path("burst")).unwrap();
    let staging = server.base.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    for i in 0..5000 {
        std::fs::write(staging.join(format!("f{i:04}.txt")), format!("{i}\n")).unwrap();
    }
    subscribe(&mut server, &dir);
    subscribe_file(&mut server, "README.md");
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &server.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill {sig}");
    };
    signal("-STOP");
    for i in 0..5000 {
        let name = format!("f{i:04}.txt");
        std::fs::rename(staging.join(&name), server.path(&format!("burst/{name}"))).unwrap();
    }
    signal("-CONT");
    expect_update(&mut server, &dir);
    sync_with_sentinel(&mut server, "README.md");
    let list_changed = server.take_notifications(LIST_CHANGED).len();
    let updates = take_updates(&mut server, &dir) + 1; // and the one awaited above
    assert!((1..=5).contains(&list_changed), "{list_changed} list_changed for 5,000 new files");
    assert!((1..=5).contains(&updates), "{updates} updates of the directory for 5,000 new files");
}

/// Reading is not changing: 20,000 files read while the server cannot drain its events (stopped)
/// queue nothing for it. A watcher that also asked for opens (notify's default on Linux)
/// overflowed the kernel's queue of 16,384 events here, lost track, and told every subscriber
/// that everything had changed.
#[cfg(unix)]
#[test]
fn reading_many_files_notifies_no_one() {
    const FILES: usize = 20_000;
    let mut server = TestServer::builder().args(["--debounce", "30ms"]).start_with(|_, root| {
        let dir = root.join("many");
        std::fs::create_dir(&dir).unwrap();
        for i in 0..FILES {
            std::fs::write(dir.join(format!("f{i:05}.txt")), "x\n").unwrap();
        }
    });
    server.wait_stderr("watching for changes", WAIT);
    let read_only = subscribe_file(&mut server, "many/f00000.txt");
    subscribe_file(&mut server, "README.md");
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &server.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill {sig}");
    };
    signal("-STOP");
    for i in 0..FILES {
        let text = std::fs::read_to_string(server.path(&format!("many/f{i:05}.txt"))).unwrap();
        assert_eq!(text, "x\n");
    }
    signal("-CONT");
    sync_with_sentinel(&mut server, "README.md");
    assert_eq!(take_updates(&mut server, &read_only), 0, "a file only read was reported changed");
    assert_eq!(server.take_notifications(LIST_CHANGED).len(), 0, "reads changed the list");
}

#[test]
fn ignored_paths_never_change_the_list_but_a_subscribed_ignored_file_updates() {
    let mut server = watched(&[]);
    // build/ is in .gitignore; .git/ is never listed.
    let ignored = file_uri(&server, "build/bundle.js");
    subscribe(&mut server, &ignored);
    subscribe_file(&mut server, "README.md");
    let root = file_uri(&server, "");
    subscribe(&mut server, &root);
    server.take_notifications(UPDATED);
    std::fs::create_dir_all(server.path(".git/objects")).unwrap();
    write(&server, ".git/objects/abc", "blob\n");
    write(&server, "build/new-chunk.js", "chunk\n");
    write(&server, "debug.log", "log line\n");
    sync_with_sentinel(&mut server, "README.md");
    assert!(server.take_notifications(LIST_CHANGED).is_empty(), "ignored files are not listed");
    // The root directory subscription saw only the sentinel (a listed file).
    assert_eq!(take_updates(&mut server, &root), 1);
    write(&server, "build/bundle.js", "rebuilt\n");
    expect_update(&mut server, &ignored);
}

#[test]
fn subscribing_before_a_file_exists_fires_when_it_is_created() {
    let mut server = watched(&[]);
    let uri = file_uri(&server, "docs/later/notes.md");
    subscribe(&mut server, &uri);
    std::fs::create_dir(server.path("docs/later")).unwrap();
    write(&server, "docs/later/notes.md", "now it exists\n");
    expect_update(&mut server, &uri);
}

#[test]
fn the_servers_own_writes_notify_like_outside_ones() {
    let mut server = watched(&[]);
    let readme = file_uri(&server, "README.md");
    let moved = file_uri(&server, "docs/moved.md");
    subscribe(&mut server, &readme);
    subscribe(&mut server, &moved);
    server.call_ok("write_file", json!({ "path": server.path("README.md"), "content": "new\n" }));
    expect_update(&mut server, &readme);
    server.call_ok(
        "edit_file",
        json!({ "path": server.path("README.md"), "edits": [{ "oldText": "new", "newText": "newer" }] }),
    );
    expect_update(&mut server, &readme);
    sync_with_sentinel(&mut server, "README.md");
    assert!(server.take_notifications(LIST_CHANGED).is_empty(), "rewriting is not listing");
    server.call_ok(
        "move_file",
        json!({ "source": server.path("docs/ordering.md"), "destination": server.path("docs/moved.md") }),
    );
    expect_update(&mut server, &moved);
    server.expect_notification(LIST_CHANGED, WAIT);
    server.call_ok("delete_file", json!({ "path": server.path("docs/moved.md") }));
    expect_update(&mut server, &moved);
    server.expect_notification(LIST_CHANGED, WAIT);
}

#[test]
fn outside_traversal_and_malformed_uris_are_refused() {
    let mut server = watched(&[]);
    let outside = server.base.path().join("outside.txt");
    std::fs::write(&outside, "secret\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, server.path("link-out")).unwrap();
    let root = server.path("");
    let refused = [
        "file:///etc/passwd".to_owned(),
        crate::support::file_uri(&format!("{root}/../outside.txt")),
        crate::support::file_uri(&format!("{root}/docs/../../outside.txt")),
        crate::support::file_uri(&format!("{root}/%2e%2e/outside.txt")),
        crate::support::file_uri(&format!("{root}/docs%2f..%2f..%2foutside.txt")),
        crate::support::file_uri(&format!("{root}-old/x")),
        crate::support::file_uri(&format!("{root}/a\u{0}b")),
        "https://example.com/x".to_owned(),
        "sqlite://nope/schema".to_owned(),
        "sqlite://bad name/schema".to_owned(),
        "sqlite://live".to_owned(),
    ];
    #[cfg(unix)]
    let refused =
        [refused.to_vec(), vec![crate::support::file_uri(&format!("{root}/link-out"))]].concat();
    for uri in refused {
        let response = server.request("resources/subscribe", json!({ "uri": uri }));
        let code = &response["error"]["code"];
        assert!(code.is_number(), "{uri}: {response}");
        let read = server.request("resources/read", json!({ "uri": uri }));
        assert_eq!(code, &read["error"]["code"], "{uri} is refused like a read: {response}");
    }
    // A refused subscription watches nothing: changing the outside file notifies nobody.
    subscribe_file(&mut server, "README.md");
    std::fs::write(&outside, "changed\n").unwrap();
    sync_with_sentinel(&mut server, "README.md");
    assert_eq!(server.take_notifications(UPDATED).len(), 0);
}

/// A server over a copy of `sample-data/` and a database at `base/live.db` in `journal` mode.
fn db_server(journal: &str, writable: bool, extra: &[&str]) -> TestServer {
    let journal = journal.to_owned();
    let flag = if writable { "--db-rw" } else { "--db" };
    let mut args = vec!["--debounce".to_owned(), "30ms".to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let server = TestServer::builder()
        .args(args)
        .setup_args(move |base, _| {
            let conn = Connection::open(base.join("live.db")).unwrap();
            conn.execute_batch(&format!(
                "PRAGMA journal_mode={journal}; CREATE TABLE t(x); INSERT INTO t VALUES (1);"
            ))
            .unwrap();
            vec![flag.to_owned(), format!("live={}", base.join("live.db").display())]
        })
        .start();
    server.wait_stderr("watching for changes", WAIT);
    server
}

fn other_connection(server: &TestServer) -> Connection {
    Connection::open(server.base.path().join("live.db")).unwrap()
}

fn database_commits_by_another_connection_notify(journal: &str) {
    let mut server = db_server(journal, false, &[]);
    let table = "sqlite://live/table/t";
    let schema = "sqlite://live/schema";
    subscribe(&mut server, table);
    subscribe(&mut server, schema);
    let conn = other_connection(&server);
    conn.execute("INSERT INTO t VALUES (2)", []).unwrap();
    expect_update(&mut server, table);
    expect_update(&mut server, schema);
    conn.execute("UPDATE t SET x = x + 1", []).unwrap();
    expect_update(&mut server, table);
    assert!(server.take_notifications(LIST_CHANGED).is_empty(), "no table was created");
    // A new table changes the list of resources.
    conn.execute_batch("CREATE TABLE u(y)").unwrap();
    server.expect_notification(LIST_CHANGED, WAIT);
    expect_update(&mut server, schema);
    let resources = server.request("resources/list", json!({}));
    let listed = resources["result"]["resources"].to_string();
    assert!(listed.contains("sqlite://live/table/u"), "{listed}");
}

#[test]
fn database_commits_by_another_connection_notify_in_wal_mode() {
    database_commits_by_another_connection_notify("WAL");
}

#[test]
fn database_commits_by_another_connection_notify_in_rollback_journal_mode() {
    database_commits_by_another_connection_notify("DELETE");
}

#[test]
fn write_query_and_create_table_notify_subscribers() {
    let mut server = db_server("WAL", true, &[]);
    let table = "sqlite://live/table/t";
    subscribe(&mut server, table);
    server.call_ok("write_query", json!({ "query": "INSERT INTO t VALUES (5)" }));
    expect_update(&mut server, table);
    server.call_ok("create_table", json!({ "query": "CREATE TABLE made(z)" }));
    server.expect_notification(LIST_CHANGED, WAIT);
    expect_update(&mut server, table);
    // A refused write changes nothing and notifies nobody.
    subscribe_file(&mut server, "README.md");
    let refused = server.call_tool("write_query", json!({ "query": "BEGIN" }));
    assert_eq!(refused["isError"], json!(true), "{}", text(&refused));
    sync_with_sentinel(&mut server, "README.md");
    assert_eq!(take_updates(&mut server, table), 0);
}

#[test]
fn modern_listen_delivers_only_what_its_filter_accepted() {
    let server = TestServer::builder().modern().args(["--debounce", "30ms"]).start();
    let mut server = server;
    let watched_uri = file_uri(&server, "README.md");
    let outside = "file:///etc/passwd".to_owned();
    let id = server.send_request(
        "subscriptions/listen",
        json!({ "notifications": { "resourceSubscriptions": [watched_uri, outside] } }),
    );
    let ack = server.expect_notification("notifications/subscriptions/acknowledged", WAIT);
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        json!(id),
        "{ack}"
    );
    let accepted = &ack["params"]["notifications"];
    assert_eq!(accepted["resourceSubscriptions"], json!([watched_uri]), "{ack}");
    assert!(accepted.get("resourcesListChanged").is_none(), "{ack}");
    server.wait_stderr("watching for changes", WAIT);
    // A new file (list_changed is not in the filter) and a change to the subscribed file.
    std::fs::write(server.path("new.txt"), "new\n").unwrap();
    std::fs::write(server.path("README.md"), "changed\n").unwrap();
    let update = expect_update(&mut server, &watched_uri);
    assert_eq!(update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], json!(id));
    assert!(server.take_notifications(LIST_CHANGED).is_empty(), "list_changed was not asked for");
    // A second listen that asks for list_changed gets it.
    server.send_request(
        "subscriptions/listen",
        json!({ "notifications": { "resourcesListChanged": true } }),
    );
    server.expect_notification_where("notifications/subscriptions/acknowledged", WAIT, |n| {
        n["params"]["notifications"]["resourcesListChanged"] == json!(true)
    });
    std::fs::write(server.path("newer.txt"), "newer\n").unwrap();
    let relist = server.expect_notification(LIST_CHANGED, WAIT);
    assert_ne!(relist["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], json!(id));
    // Cancelling the first listen ends it with no more updates.
    server.notify("notifications/cancelled", json!({ "requestId": id }));
    std::fs::write(server.path("README.md"), "after cancel\n").unwrap();
    std::fs::write(server.path("newest.txt"), "sync\n").unwrap();
    server.expect_notification(LIST_CHANGED, WAIT);
    assert_eq!(take_updates(&mut server, &watched_uri), 0, "no update after cancel");
}

#[test]
fn poll_mode_notices_subscribed_files_and_databases() {
    let mut server = db_server("WAL", false, &["--watch", "poll", "--poll-interval", "20ms"]);
    let uri = file_uri(&server, "README.md");
    subscribe(&mut server, &uri);
    subscribe(&mut server, "sqlite://live/schema");
    write(&server, "README.md", "polled\n");
    expect_update(&mut server, &uri);
    // Two saves of the same size within one second are two changes.
    write(&server, "README.md", "pulled\n");
    expect_update(&mut server, &uri);
    other_connection(&server).execute("INSERT INTO t VALUES (9)", []).unwrap();
    expect_update(&mut server, "sqlite://live/schema");
    atomic_replace(&server, "README.md", "replaced\n");
    expect_update(&mut server, &uri);
}

#[test]
fn watch_off_declares_nothing_and_refuses_subscriptions() {
    let mut server = TestServer::builder().args(["--watch", "off"]).start();
    let resources = &server.initialize_result["capabilities"]["resources"];
    assert!(resources.get("subscribe").is_none(), "{resources}");
    assert!(resources.get("listChanged").is_none(), "{resources}");
    let uri = file_uri(&server, "README.md");
    let response = server.request("resources/subscribe", json!({ "uri": uri }));
    let message = response["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("--watch off"), "{response}");
}

fn start_status(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(&*BIN).arg(dir).args(args).stdin(std::process::Stdio::null()).run();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn watch_limits_hold_at_their_edges() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], bool, &str); 7] = [
        (&["--debounce", "1ms"], true, ""),
        (&["--debounce", "10s"], true, ""),
        (&["--debounce", "10001ms"], false, "at most 10s"),
        (&["--debounce", "0"], false, "greater than zero"),
        (&["--poll-interval", "10ms"], true, ""),
        (&["--poll-interval", "9ms"], false, "at least 10ms"),
        (&["--watch", "sometimes"], false, "possible values"),
    ];
    for (args, ok, message) in cases {
        let (success, stderr) = start_status(args, dir.path());
        assert_eq!(success, ok, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "debounce = \"20s\"\n").unwrap();
    let (success, stderr) = start_status(&["--config", config.to_str().unwrap()], dir.path());
    assert!(!success && stderr.contains("at most 10s"), "{stderr}");
}

#[test]
fn a_directory_replaced_in_one_go_is_reindexed() {
    let mut server = watched(&[]);
    let incoming = server.base.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    std::fs::write(incoming.join("fresh.md"), "fresh\n").unwrap();
    // `rm -r docs && mv incoming docs`, within one debounce window.
    std::fs::remove_dir_all(server.path("docs")).unwrap();
    std::fs::rename(&incoming, server.path("docs")).unwrap();
    server.expect_notification(LIST_CHANGED, WAIT);
    // The moved-in file is known: deleting it changes the list again.
    std::fs::remove_file(server.path("docs/fresh.md")).unwrap();
    server.expect_notification(LIST_CHANGED, WAIT);
}

#[test]
fn ignore_rules_change_the_list_only_where_they_apply() {
    let mut server = watched(&[]);
    subscribe_file(&mut server, "README.md");
    // A .gitignore inside an ignored directory changes nothing listed.
    write(&server, "build/.gitignore", "*\n");
    sync_with_sentinel(&mut server, "README.md");
    assert!(server.take_notifications(LIST_CHANGED).is_empty());
    // One that hides listed files does.
    write(&server, "web/.gitignore", "*.css\n");
    server.expect_notification(LIST_CHANGED, WAIT);
    let listed = server.request("resources/list", json!({}))["result"]["resources"].to_string();
    assert!(!listed.contains("styles.css"), "{listed}");
}

#[test]
fn a_subscription_to_an_ignored_directory_hears_about_its_contents() {
    let mut server = watched(&[]);
    let build = file_uri(&server, "build");
    subscribe(&mut server, &build);
    write(&server, "build/chunk-2.js", "chunk\n");
    expect_update(&mut server, &build);
}

// Windows refuses to replace a file SQLite holds open: nothing can swap a served database there.
#[cfg(unix)]
#[test]
fn a_database_replaced_by_rename_is_followed_by_queries_and_notifications() {
    let mut server = db_server("DELETE", false, &[]);
    subscribe(&mut server, "sqlite://live/schema");
    let other = server.base.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (42); CREATE TABLE extra(y);")
        .unwrap();
    std::fs::rename(&other, server.base.path().join("live.db")).unwrap();
    expect_update(&mut server, "sqlite://live/schema");
    server.expect_notification(LIST_CHANGED, WAIT);
    let rows = server.call_ok("read_query", json!({ "query": "SELECT x FROM t" }));
    assert_eq!(rows["structuredContent"]["rows"], json!([[42]]), "{rows}");
}
