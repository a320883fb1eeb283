//! The change journal against the real binary: every file tool's change undone to the same
//! bytes and mode, and redone; an undo refused when the target changed since, then forced; a
//! file over `--history-max-file` reported as not undoable in the write's own result; a server
//! killed between the journal commit and the rename, and after the rename; journals surviving a
//! restart and shared by two servers; the journal out of reach of every tool and path form.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestServer, file_uri, start_error, text};

/// Everything under `dir`: each path with its kind, and for files their bytes' hash and, on
/// Unix, their mode bits (on Windows, the read-only attribute).
fn state(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().to_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(base, &path, out);
                out.insert(rel, "dir".to_owned());
            } else {
                let bytes = fs::read(&path).unwrap();
                let digest = blake(&bytes);
                out.insert(rel, format!("file {} {digest} {}", bytes.len(), mode(&meta)));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!("{:o}", meta.permissions().mode() & 0o7777)
}

#[cfg(windows)]
fn mode(meta: &fs::Metadata) -> String {
    if meta.permissions().readonly() { "ro" } else { "rw" }.to_owned()
}

/// A content hash for comparisons (not for security).
fn blake(bytes: &[u8]) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(unix)]
fn set_mode(path: &Path, bits: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(bits)).unwrap();
}

#[cfg(windows)]
fn set_mode(path: &Path, bits: u32) {
    let mut permissions = fs::metadata(path).unwrap().permissions();
    permissions.set_readonly(bits & 0o222 == 0);
    fs::set_permissions(path, permissions).unwrap();
}

/// The id of the change a write's result reports (it must report one, undoable).
fn change_id(result: &Value) -> i64 {
    let change = &result["structuredContent"]["change"];
    assert_eq!(change["undoable"], json!(true), "{result}");
    assert!(text(result).contains("undo_change"), "{result}");
    change["id"].as_i64().unwrap_or_else(|| panic!("no change id in {result}"))
}

/// Makes a change with `tool`, undoes it (the root is as before, bytes and modes), and undoes
/// the undo (as after the change).
fn undo_and_redo(server: &mut TestServer, tool: &str, arguments: Value) {
    let before = state(&server.root);
    let result = server.call_ok(tool, arguments.clone());
    let id = change_id(&result);
    let after = state(&server.root);
    assert_ne!(before, after, "{tool} {arguments} changed nothing");
    let undone = server.call_ok("undo_change", json!({ "id": id }));
    assert_eq!(state(&server.root), before, "undoing {tool} {arguments}: {undone}");
    let redo = change_id(&undone);
    let redone = server.call_ok("undo_change", json!({ "id": redo }));
    assert_eq!(state(&server.root), after, "redoing {tool} {arguments}: {redone}");
}

fn history_server(history: &Path) -> TestServer {
    let history = history.display().to_string();
    TestServer::builder().args(["--history".to_owned(), history]).start()
}

#[test]
fn every_file_tools_change_is_undone_to_the_same_bytes_and_modes_and_redone() {
    let mut server = TestServer::builder().start_with(|_, root| {
        fs::create_dir_all(root.join("tree/inner/empty")).unwrap();
        fs::write(root.join("tree/a.txt"), "alpha\n").unwrap();
        fs::write(root.join("tree/inner/b.bin"), [0u8, 159, 146, 150]).unwrap();
        fs::write(root.join("tree/inner/run.sh"), "#!/bin/sh\n").unwrap();
        set_mode(&root.join("tree/inner/run.sh"), 0o750);
        fs::write(root.join("private.txt"), "mine\n").unwrap();
        set_mode(&root.join("private.txt"), 0o600);
        fs::write(root.join("locked.txt"), "read only\n").unwrap();
        set_mode(&root.join("locked.txt"), 0o444);
    });
    let mut calls = vec![
        ("write_file", json!({"path": "private.txt", "content": "replaced\n"})),
        ("write_file", json!({"path": "new/deeper/file.txt", "content": "new\n"})),
        (
            "edit_file",
            json!({"path": "README.md", "edits": [{"oldText": "Bookshop", "newText": "Bookstore", "replaceAll": true}]}),
        ),
        (
            "copy_file",
            json!({"source": "tree/a.txt", "destination": "private.txt", "overwrite": true}),
        ),
        ("move_file", json!({"source": "tree/a.txt", "destination": "moved/a.txt"})),
        ("move_file", json!({"source": "tree", "destination": "tree2"})),
        ("delete_file", json!({"path": "private.txt"})),
        ("delete_file", json!({"path": "tree", "recursive": true})),
        ("create_directory", json!({"path": "made/one/two"})),
    ];
    // Windows refuses to delete a read-only file at all.
    if cfg!(unix) {
        calls.push(("delete_file", json!({"path": "locked.txt"})));
    }
    let count = calls.len();
    for (tool, arguments) in calls {
        undo_and_redo(&mut server, tool, arguments);
        // Back to the start for the next call: the redo is undone too.
        let latest = server.call_ok("list_changes", json!({"limit": 1}));
        let id = latest["structuredContent"]["changes"][0]["id"].as_i64().unwrap();
        server.call_ok("undo_change", json!({ "id": id }));
    }
    let listed = server.call_ok("list_changes", json!({"limit": 100}));
    let changes = listed["structuredContent"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 4 * count, "four entries per call: change, undo, redo, undo");
    assert!(changes.iter().all(|c| c["state"] == "done"), "{listed}");
    // Filtered by path: only what touched the tree or below it.
    let tree = server.call_ok("list_changes", json!({"path": "tree"}));
    let targets: Vec<&str> = tree["structuredContent"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert!(!targets.is_empty() && targets.iter().all(|t| t.contains("tree")), "{targets:?}");
}

#[test]
fn an_undo_is_refused_when_the_file_changed_since_then_forced() {
    let mut server = TestServer::start();
    let readme = server.root.join("README.md");
    let original = fs::read(&readme).unwrap();
    let id =
        change_id(&server.call_ok("write_file", json!({"path": "README.md", "content": "ours\n"})));
    fs::write(&readme, "theirs\n").unwrap();
    let refused = server.call_err("undo_change", json!({"id": id}));
    assert!(refused.contains("changed since") && refused.contains("force"), "{refused}");
    assert_eq!(fs::read_to_string(&readme).unwrap(), "theirs\n", "a refused undo changes nothing");
    // Deleted since: refused too, saying so.
    fs::remove_file(&readme).unwrap();
    let refused = server.call_err("undo_change", json!({"id": id}));
    assert!(refused.contains("nothing is there"), "{refused}");
    let forced = server.call_ok("undo_change", json!({"id": id, "force": true}));
    assert_eq!(fs::read(&readme).unwrap(), original, "{forced}");
    // The shown change is the diff of what the write did.
    let shown = server.call_ok("show_change", json!({"id": id}));
    let details = shown["structuredContent"]["details"].as_str().unwrap();
    assert!(details.contains("+ours") && details.contains("-# "), "{details}");
    let missing = server.call_err("undo_change", json!({"id": 999_999}));
    assert!(missing.contains("no change #999999"), "{missing}");
}

#[test]
fn a_file_over_history_max_file_is_reported_not_undoable_in_the_writes_own_result() {
    let at_bound = "a".repeat(1024);
    let over = "b".repeat(1025);
    let (at, past) = (at_bound.clone(), over.clone());
    let mut server =
        TestServer::builder().args(["--history-max-file", "1KiB"]).start_with(move |_, root| {
            fs::write(root.join("at.txt"), &at).unwrap();
            fs::write(root.join("over.txt"), &past).unwrap();
            fs::create_dir(root.join("dir")).unwrap();
            fs::write(root.join("dir/small.txt"), "small").unwrap();
            fs::write(root.join("dir/big.txt"), &past).unwrap();
        });
    let read = |server: &TestServer, rel: &str| fs::read_to_string(server.root.join(rel)).unwrap();
    // At the bound: saved.
    let id = change_id(&server.call_ok("write_file", json!({"path": "at.txt", "content": "x"})));
    server.call_ok("undo_change", json!({"id": id}));
    assert_eq!(read(&server, "at.txt"), at_bound);
    // One byte over: the write's own result says it cannot be undone, and why.
    let written = server.call_ok("write_file", json!({"path": "over.txt", "content": "x"}));
    let change = &written["structuredContent"]["change"];
    assert_eq!(change["undoable"], json!(false), "{written}");
    let said = text(&written);
    assert!(said.contains("cannot be undone") && said.contains("--history-max-file"), "{said}");
    let refused = server.call_err("undo_change", json!({"id": change["id"]}));
    assert!(refused.contains("cannot be undone"), "{refused}");
    // A directory with one file over: not undoable, and force puts back what was saved.
    let deleted = server.call_ok("delete_file", json!({"path": "dir", "recursive": true}));
    let change = deleted["structuredContent"]["change"].clone();
    assert_eq!(change["undoable"], json!(false), "{deleted}");
    let refused = server.call_err("undo_change", json!({"id": change["id"]}));
    assert!(refused.contains("force"), "{refused}");
    server.call_ok("undo_change", json!({"id": change["id"], "force": true}));
    assert_eq!(read(&server, "dir/small.txt"), "small");
    assert!(!server.root.join("dir/big.txt").exists());
    // Force never replaces what cannot be saved: a file changed since to 1025 bytes stays.
    let id = change_id(&server.call_ok("write_file", json!({"path": "at.txt", "content": "y"})));
    fs::write(server.root.join("at.txt"), &over).unwrap();
    let refused = server.call_err("undo_change", json!({"id": id, "force": true}));
    assert!(refused.contains("Even with force"), "{refused}");
    assert_eq!(read(&server, "at.txt"), over);
    // Changed to what can be saved: forced, and the undo can itself be undone.
    fs::write(server.root.join("at.txt"), "changed").unwrap();
    let forced = server.call_ok("undo_change", json!({"id": id, "force": true}));
    assert_eq!(read(&server, "at.txt"), at_bound);
    server.call_ok("undo_change", json!({"id": change_id(&forced)}));
    assert_eq!(read(&server, "at.txt"), "changed");
}

/// Waits for the server to end on its own (it was made to crash).
#[test]
fn a_server_killed_between_the_journal_and_the_change_leaves_them_agreeing_after_a_restart() {
    for (point, made) in [("after-record", false), ("after-change", true)] {
        let history = tempfile::tempdir().unwrap();
        let history_arg = history.path().display().to_string();
        let mut server = TestServer::builder()
            .args(["--history".to_owned(), history_arg.clone()])
            .env("MCP_FILES_SQLITE_CRASH_AT", point)
            .start();
        let readme = server.root.join("README.md");
        let original = fs::read(&readme).unwrap();
        server.send_request(
            "tools/call",
            json!({"name": "write_file", "arguments": {"path": "README.md", "content": "new\n"}}),
        );
        server.wait_exit();
        let on_disk = fs::read(&readme).unwrap();
        assert_eq!(on_disk == b"new\n", made, "{point}: the change made or not");
        // A server on other roots sharing the journal leaves the entry for its own server.
        let other =
            TestServer::builder().args(["--history".to_owned(), history_arg.clone()]).start();
        drop(other);
        // A new server on the same root and journal settles the entry.
        let root = server.root.display().to_string();
        let mut again = TestServer::builder()
            .empty()
            .no_root_arg()
            .args([root, "--history".to_owned(), history_arg])
            .start();
        let listed = again.call_ok("list_changes", json!({}));
        let changes = listed["structuredContent"]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{point}: {listed}");
        let entry = &changes[0];
        if made {
            assert_eq!(entry["state"], "done", "{listed}");
            assert_eq!(entry["undoable"], json!(true), "{listed}");
            again.call_ok("undo_change", json!({"id": entry["id"]}));
            assert_eq!(fs::read(&readme).unwrap(), original);
        } else {
            assert_eq!(entry["state"], "incomplete", "{listed}");
            assert!(entry["reason"].as_str().unwrap().contains("nothing was changed"), "{listed}");
            assert_eq!(fs::read(&readme).unwrap(), original);
            let refused = again.call_err("undo_change", json!({"id": entry["id"]}));
            assert!(refused.contains("cannot be undone"), "{refused}");
        }
        drop(server);
    }
}

#[test]
fn the_journal_survives_a_restart_and_two_servers_share_it_each_seeing_its_own() {
    let history = tempfile::tempdir().unwrap();
    let mut first = history_server(history.path());
    let mut second = history_server(history.path());
    let mut ids = (Vec::new(), Vec::new());
    for round in 0..10 {
        let content = format!("round {round}\n");
        let a = first.call_ok("write_file", json!({"path": "notes.txt", "content": content}));
        ids.0.push(change_id(&a));
        let b = second.call_ok("write_file", json!({"path": "notes.txt", "content": content}));
        ids.1.push(change_id(&b));
    }
    let listed = |server: &mut TestServer| -> Vec<i64> {
        let result = server.call_ok("list_changes", json!({"limit": 100}));
        result["structuredContent"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    let newest_first = |ids: &[i64]| ids.iter().rev().copied().collect::<Vec<_>>();
    assert_eq!(listed(&mut first), newest_first(&ids.0), "each server lists its own changes");
    assert_eq!(listed(&mut second), newest_first(&ids.1));
    // Another server's change is not this one's to show or undo.
    let refused = first.call_err("undo_change", json!({"id": ids.1[0]}));
    assert!(refused.contains("no change"), "{refused}");
    // A restart on the same root finds its journal, and undoes from it.
    let root = first.root.display().to_string();
    first.close_and_wait(Duration::from_secs(30));
    let mut again = TestServer::builder()
        .empty()
        .no_root_arg()
        .args([root, "--history".to_owned(), history.path().display().to_string()])
        .start();
    assert_eq!(listed(&mut again), newest_first(&ids.0));
    again.call_ok("undo_change", json!({"id": ids.0[9]}));
    assert_eq!(fs::read_to_string(first.root.join("notes.txt")).unwrap(), "round 8\n");
    drop(first);
}

#[test]
fn the_journal_is_never_inside_an_allowed_directory_nor_reachable_by_any_path_form() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let history = dir.path().join("history");
    fs::create_dir_all(root.join("sub")).unwrap();
    let root_arg = root.display().to_string();
    let inside = root.join("sub").join("journal").display().to_string();
    let err = start_error(&[root_arg.as_str(), "--history", inside.as_str()]);
    assert!(err.contains("is inside the allowed directory") && err.contains("--history"), "{err}");
    assert!(!root.join("sub").join("journal").exists(), "nothing is created when refused");
    let holding = dir.path().display().to_string();
    let err = start_error(&[root_arg.as_str(), "--history", holding.as_str()]);
    assert!(err.contains("holds the allowed directory"), "{err}");

    let history_arg = history.display().to_string();
    let mut server = TestServer::builder()
        .no_root_arg()
        .empty()
        .args([root_arg.clone(), "--history".to_owned(), history_arg.clone()])
        .start();
    // The journal exists, with its database, outside the root.
    server.call_ok(
        "write_file",
        json!({"path": root.join("a.txt").display().to_string(), "content": "a"}),
    );
    let journal = history.join("journal.db");
    assert!(journal.is_file());
    let journal_text = journal.display().to_string();
    let dotted = root.join("..").join("history").join("journal.db").display().to_string();
    for path in
        [journal_text.clone(), file_uri(&journal_text), dotted, "../history/journal.db".to_owned()]
    {
        let refused = server.call_err("read_text_file", json!({ "path": path }));
        assert!(
            refused.contains("outside") || refused.contains("not allowed"),
            "{path}: {refused}"
        );
        server.call_err("write_file", json!({ "path": path, "content": "x" }));
        server.call_err("delete_file", json!({ "path": path }));
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&history, root.join("link")).unwrap();
        for tool in ["list_directory", "directory_tree"] {
            server.call_err(tool, json!({"path": "link"}));
        }
        server.call_err("read_text_file", json!({"path": "link/journal.db"}));
        server.call_err("write_file", json!({"path": "link/x.txt", "content": "x"}));
        server.call_err("copy_file", json!({"source": "a.txt", "destination": "link/b.txt"}));
        assert!(!history.join("x.txt").exists() && !history.join("b.txt").exists());
    }
}

#[test]
fn with_history_off_or_nothing_writable_there_is_no_journal() {
    let mut off = TestServer::builder().args(["--history", "off"]).start();
    let names = off.tool_names();
    assert!(!names.iter().any(|n| n == "undo_change"), "{names:?}");
    let written = off.call_ok("write_file", json!({"path": "a.txt", "content": "a"}));
    assert!(written["structuredContent"].get("change").is_none(), "{written}");
    assert!(!off.base.path().join("state").exists(), "no journal was made");
    let mut read_only = TestServer::builder().args(["--read-only"]).start();
    assert!(!read_only.tool_names().iter().any(|n| n == "list_changes"));
    assert!(!read_only.base.path().join("state").exists(), "no journal was made");
    let mut on = TestServer::start();
    let names = on.tool_names();
    for name in ["list_changes", "show_change", "undo_change"] {
        assert!(names.iter().any(|n| n == name), "{name}");
    }
    let state = on.base.path().join("state").join("mcp-files-sqlite");
    assert!(state.join("journal.db").is_file(), "the default place, under XDG_STATE_HOME");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "only this user may enter it");
    }
}
