//! Escape attempts through every tool and resource entry point that takes a path, against every
//! refused form; special files; hard links; symlink loops; client-root narrowing. After each
//! batch, everything inside and outside the root is compared with a fingerprint taken before.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::{TestServer, fingerprint, text};

const SECRET: &str = "TOP SECRET outside the root\n";

/// The layout: `base/root` (served, a copy of sample-data), `base/outside` and `base/root-old`
/// (a sibling that shares the root's name as a prefix), and symlinks in the root pointing out and in.
fn setup(base: &Path, root: &Path) {
    let outside = base.join("outside");
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("secret.txt"), SECRET).unwrap();
    fs::write(outside.join("hard.txt"), "outside original\n").unwrap();
    fs::write(outside.join("sub/inner.txt"), SECRET).unwrap();
    fs::create_dir(base.join("root-old")).unwrap();
    fs::write(base.join("root-old/secret.txt"), SECRET).unwrap();
    // Symbolic links need no privileges on Unix only (and Wine cannot make them at all), so the
    // link cases run there; every other spelling runs on both.
    #[cfg(unix)]
    {
        symlink("../outside/secret.txt", root.join("link_out_file")).unwrap();
        symlink("../outside", root.join("link_out_dir")).unwrap();
        symlink(outside.join("secret.txt"), root.join("link_abs_file")).unwrap();
        symlink(&outside, root.join("link_abs_dir")).unwrap();
        symlink("../outside/new.txt", root.join("dangling_out")).unwrap();
        symlink(outside.join("newdir"), root.join("dangling_abs_out")).unwrap();
        symlink("src/bookshop/../../../outside/secret.txt", root.join("link_dotdot_out")).unwrap();
        symlink("src/bookshop/pricing.py", root.join("link_in")).unwrap();
        symlink(root.join("README.md"), root.join("link_in_abs")).unwrap();
        symlink("src", root.join("link_dir_in")).unwrap();
        symlink("docs/new-from-link.md", root.join("dangling_in")).unwrap();
    }
    fs::hard_link(outside.join("hard.txt"), root.join("hard_out")).unwrap();
}

fn start() -> TestServer {
    TestServer::builder().start_with(setup)
}

/// Every spelling of a path that must be refused, for reads and writes alike.
fn refused_paths(server: &TestServer) -> Vec<String> {
    let base = crate::support::canonical(server.base.path()).display().to_string();
    let root = server.path("");
    vec![
        "../outside/secret.txt".to_owned(),
        "src/../../outside/secret.txt".to_owned(),
        "./../outside/secret.txt".to_owned(),
        "//../outside/secret.txt".to_owned(),
        "/../etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        format!("{base}/outside/secret.txt"),
        format!("{base}/root-old/secret.txt"),
        format!("{root}-old/secret.txt"),
        format!("{root}/../outside/secret.txt"),
        "README.md\u{0}.txt".to_owned(),
        crate::support::file_uri(&format!("{root}/%2e%2e/outside/secret.txt")),
        crate::support::file_uri(&format!("{root}/%2E%2E/outside/secret.txt")),
        crate::support::file_uri(&format!("{root}/..%2Foutside%2Fsecret.txt")),
        crate::support::file_uri(&format!("{root}%2f..%2foutside%2fsecret.txt")),
        format!("file://evil.example{root}/README.md"),
        "C:\\Windows\\win.ini".to_owned(),
        "\\\\server\\share\\secret.txt".to_owned(),
        "src\\..\\..\\outside\\secret.txt".to_owned(),
    ]
    .into_iter()
    .chain(SYMLINKS_OUT.iter().map(|s| (*s).to_owned()))
    .collect()
}

/// The symlinks of `setup` that lead outside (none where the test cannot make symlinks).
const SYMLINKS_OUT: &[&str] = if cfg!(unix) {
    &[
        "link_out_file",
        "link_out_dir/secret.txt",
        "link_abs_file",
        "link_abs_dir/secret.txt",
        "link_dotdot_out",
    ]
} else {
    &[]
};

/// Directory spellings that lead outside.
fn refused_dirs(server: &TestServer) -> Vec<String> {
    let base = crate::support::canonical(server.base.path()).display().to_string();
    let links: &[&str] = if cfg!(unix) { &["link_out_dir", "link_abs_dir"] } else { &[] };
    let mut dirs: Vec<String> = links.iter().map(|s| (*s).to_owned()).collect();
    dirs.extend([
        "..".to_owned(),
        "../outside".to_owned(),
        format!("{base}/outside"),
        format!("{base}/root-old"),
        format!("{}-old", server.path("")),
        crate::support::file_uri(&format!("{}/%2e%2e", server.path(""))),
        "/".to_owned(),
    ]);
    dirs
}

/// Write targets that lead outside, including dangling symlinks whose targets are outside.
fn refused_targets(server: &TestServer) -> Vec<String> {
    let base = crate::support::canonical(server.base.path()).display().to_string();
    let links: &[&str] = if cfg!(unix) {
        &["dangling_out", "dangling_abs_out", "link_out_dir/new.txt", "link_abs_dir/new.txt"]
    } else {
        &[]
    };
    let mut targets: Vec<String> = links.iter().map(|s| (*s).to_owned()).collect();
    targets.extend([
        "../outside/new.txt".to_owned(),
        format!("{base}/outside/new.txt"),
        format!("{base}/root-old/new.txt"),
        "new\u{0}.txt".to_owned(),
        crate::support::file_uri(&format!("{}/%2e%2e/outside/new.txt", server.path(""))),
        "C:\\new.txt".to_owned(),
    ]);
    targets
}

fn assert_refused(server: &mut TestServer, tool: &str, args: Value) {
    let result = server.call_tool(tool, args.clone());
    let body = text(&result);
    if result["isError"] != json!(true) || !body.contains("outside the allowed directories") {
        server.fail(&format!("{tool} {args} was not refused as outside: {result}"));
    }
    assert!(!body.contains("TOP SECRET"), "{tool} {args} leaked content: {body}");
}

fn assert_resource_refused(server: &mut TestServer, uri: &str) {
    let response = server.request("resources/read", json!({"uri": uri}));
    if response["error"]["code"] != json!(-32002) {
        server.fail(&format!("resources/read {uri} was not refused as not found: {response}"));
    }
    assert!(!response.to_string().contains("TOP SECRET"), "{response}");
}

fn uri_for(server: &TestServer, path: &str) -> String {
    if path.starts_with("file:") {
        path.to_owned()
    } else if Path::new(path).is_absolute() || path.starts_with('/') {
        crate::support::file_uri(path)
    } else {
        crate::support::file_uri(&format!("{}/{path}", server.path("")))
    }
}

#[test]
fn read_tools_and_resources_refuse_every_escape() {
    let mut server = start();
    let before = fingerprint(server.base.path());
    for path in refused_paths(&server) {
        for tool in ["read_text_file", "read_media_file", "get_file_info"] {
            assert_refused(&mut server, tool, json!({"path": path}));
        }
        assert_refused(&mut server, "read_text_file", json!({"path": path, "tail": 1}));
        assert_refused(&mut server, "grep_files", json!({"path": path, "pattern": "SECRET"}));
        let multi = server.call_ok("read_multiple_files", json!({"paths": [path, "README.md"]}));
        let body = text(&multi);
        assert!(
            body.contains("outside the allowed directories") && body.contains("# Corner Bookshop"),
            "{body}"
        );
        assert!(!body.contains("TOP SECRET"), "{body}");
        if !path.contains('\\') && !path.contains('\0') {
            let uri = uri_for(&server, &path);
            assert_resource_refused(&mut server, &uri);
        }
    }
    for dir in refused_dirs(&server) {
        for (tool, args) in [
            ("list_directory", json!({"path": dir})),
            ("list_directory_with_sizes", json!({"path": dir})),
            ("directory_tree", json!({"path": dir})),
            ("search_files", json!({"path": dir, "pattern": "*"})),
            ("grep_files", json!({"path": dir, "pattern": "SECRET"})),
            ("get_file_info", json!({"path": dir})),
        ] {
            assert_refused(&mut server, tool, args);
        }
        let uri = uri_for(&server, &dir);
        assert_resource_refused(&mut server, &uri);
    }
    assert_eq!(before, fingerprint(server.base.path()), "a refused read changed something");
}

#[test]
fn write_tools_refuse_every_escape_and_change_nothing() {
    let mut server = start();
    let before = fingerprint(server.base.path());
    let mut targets = refused_paths(&server);
    targets.extend(refused_targets(&server));
    targets.extend(refused_dirs(&server));
    for target in targets {
        let calls = [
            ("write_file", json!({"path": target, "content": "pwned\n"})),
            (
                "edit_file",
                json!({"path": target, "edits": [{"oldText": "TOP", "newText": "pwned"}]}),
            ),
            ("create_directory", json!({"path": format!("{target}/x")})),
            ("copy_file", json!({"source": "README.md", "destination": target})),
            ("move_file", json!({"source": "docs/ordering.md", "destination": target})),
        ];
        for (tool, args) in calls {
            assert_refused(&mut server, tool, args);
        }
        let is_link_itself = target.starts_with("link_") || target.starts_with("dangling_");
        if !is_link_itself {
            // Deleting or moving a symlink acts on the link inside the root, which is allowed (see
            // deleting_a_link_to_the_outside_removes_only_the_link); every other form is refused.
            assert_refused(&mut server, "delete_file", json!({"path": target, "recursive": true}));
            assert_refused(
                &mut server,
                "move_file",
                json!({"source": target, "destination": "moved"}),
            );
        }
        assert_refused(
            &mut server,
            "copy_file",
            json!({"source": target, "destination": "copied"}),
        );
    }
    #[cfg(unix)]
    assert_refused(&mut server, "create_directory", json!({"path": "dangling_abs_out"}));
    assert_eq!(before, fingerprint(server.base.path()), "a refused write changed something");
}

#[cfg(unix)]
#[test]
fn deleting_a_link_to_the_outside_removes_only_the_link() {
    let mut server = start();
    let outside = server.base.path().join("outside");
    let before = fingerprint(&outside);
    server.call_ok("delete_file", json!({"path": "link_out_dir", "recursive": true}));
    server.call_ok("delete_file", json!({"path": "link_abs_file"}));
    server.call_ok("move_file", json!({"source": "link_out_file", "destination": "moved_link"}));
    assert!(!server.root.join("link_out_dir").exists());
    assert!(fs::symlink_metadata(server.root.join("moved_link")).unwrap().file_type().is_symlink());
    assert_eq!(before, fingerprint(&outside));
    assert_refused(&mut server, "read_text_file", json!({"path": "moved_link"}));
}

#[cfg(unix)]
#[test]
fn walks_never_follow_symlinks_out_of_the_root() {
    let mut server = start();
    let all = server
        .call_ok("search_files", json!({"path": ".", "pattern": "*", "includeIgnored": true}));
    assert!(!text(&all).contains("secret.txt") && !text(&all).contains("inner.txt"), "{all}");
    let grep = server.call_ok(
        "grep_files",
        json!({"path": ".", "pattern": "TOP SECRET", "includeIgnored": true}),
    );
    assert_eq!(grep["structuredContent"]["matches"], 0, "{grep}");
    let tree = server.call_ok("directory_tree", json!({"path": ".", "includeIgnored": true}));
    assert!(
        text(&tree).contains("link_out_dir [symlink]") && !text(&tree).contains("inner.txt"),
        "{tree}"
    );
    let resources = server.request("resources/list", json!({}));
    assert!(!resources.to_string().contains("secret.txt"), "{resources}");
}

#[cfg(unix)]
#[test]
fn symlinks_that_stay_inside_the_root_keep_working() {
    let mut server = start();
    let pricing = fs::read_to_string(server.root.join("src/bookshop/pricing.py")).unwrap();
    assert_eq!(text(&server.call_ok("read_text_file", json!({"path": "link_in"}))), pricing);
    let readme = fs::read_to_string(server.root.join("README.md")).unwrap();
    assert_eq!(text(&server.call_ok("read_text_file", json!({"path": "link_in_abs"}))), readme);
    let listing = server.call_ok("list_directory", json!({"path": "link_dir_in"}));
    assert!(text(&listing).contains("[DIR] bookshop"), "{listing}");
    let info = server.call_ok("get_file_info", json!({"path": "link_in"}));
    assert_eq!(info["structuredContent"]["isSymlink"], true);
    // Writing through an inside link changes its target and keeps the link.
    server.call_ok("write_file", json!({"path": "link_in", "content": "VAT = 1\n"}));
    assert_eq!(
        fs::read_to_string(server.root.join("src/bookshop/pricing.py")).unwrap(),
        "VAT = 1\n"
    );
    assert!(fs::symlink_metadata(server.root.join("link_in")).unwrap().file_type().is_symlink());
    // A dangling link inside the root is a valid place to create its target.
    server.call_ok("write_file", json!({"path": "dangling_in", "content": "created\n"}));
    assert_eq!(fs::read_to_string(server.root.join("docs/new-from-link.md")).unwrap(), "created\n");
}

#[test]
fn hard_link_to_an_outside_file_is_replaced_never_written_through() {
    let mut server = start();
    let outside = server.base.path().join("outside/hard.txt");
    server.call_ok("write_file", json!({"path": "hard_out", "content": "written inside\n"}));
    assert_eq!(fs::read_to_string(&outside).unwrap(), "outside original\n");
    assert_eq!(fs::read_to_string(server.root.join("hard_out")).unwrap(), "written inside\n");
    // Again with a fresh hard link, through edit_file.
    fs::remove_file(server.root.join("hard_out")).unwrap();
    fs::hard_link(&outside, server.root.join("hard_out")).unwrap();
    server.call_ok(
        "edit_file",
        json!({"path": "hard_out", "edits": [{"oldText": "original", "newText": "edited"}]}),
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), "outside original\n");
    assert_eq!(fs::read_to_string(server.root.join("hard_out")).unwrap(), "outside edited\n");
}

#[cfg(unix)]
#[test]
fn fifo_is_refused_at_once_and_listings_still_work() {
    let mut server = TestServer::builder().start_with(|_, root| {
        let made = std::process::Command::new("mkfifo").arg(root.join("pipe")).status().unwrap();
        assert!(made.success(), "mkfifo");
        std::os::unix::net::UnixListener::bind(root.join("sock")).map(drop).unwrap();
    });
    let started = Instant::now();
    for (tool, args) in [
        ("read_text_file", json!({"path": "pipe"})),
        ("read_text_file", json!({"path": "pipe", "tail": 3})),
        ("read_media_file", json!({"path": "pipe"})),
        ("edit_file", json!({"path": "pipe", "edits": [{"oldText": "a", "newText": "b"}]})),
        ("write_file", json!({"path": "pipe", "content": "x"})),
        ("copy_file", json!({"source": "pipe", "destination": "pipe-copy"})),
        ("read_text_file", json!({"path": "sock"})),
    ] {
        let result = server.call_tool_timeout(tool, args.clone(), Duration::from_secs(5));
        assert_eq!(result["isError"], true, "{tool} {args}: {result}");
        let body = text(&result);
        assert!(body.contains("special files are never opened"), "{tool}: {body}");
    }
    let multi = server.call_ok("read_multiple_files", json!({"paths": ["pipe", "README.md"]}));
    assert!(text(&multi).contains("FIFO") && text(&multi).contains("# Corner Bookshop"));
    let response = server.request_timeout(
        "resources/read",
        json!({"uri": crate::support::file_uri(&server.path("pipe"))}),
        Duration::from_secs(5),
    );
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert!(started.elapsed() < Duration::from_secs(10), "special files must be refused at once");
    let listing = server.call_ok("list_directory", json!({"path": "."}));
    assert!(
        text(&listing).contains("[FIFO] pipe") && text(&listing).contains("[SOCKET] sock"),
        "{listing}"
    );
    let found = server.call_ok("search_files", json!({"path": ".", "pattern": "pipe"}));
    assert_eq!(found["structuredContent"]["matches"], json!([server.path("pipe")]));
    server.call_ok("grep_files", json!({"path": ".", "pattern": "Bookshop"}));
    server.call_ok("directory_tree", json!({"path": "."}));
    server.call_ok("get_file_info", json!({"path": "pipe"}));
    let resources = server.request("resources/list", json!({}));
    assert!(resources["result"]["resources"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(!resources.to_string().contains("/pipe\""), "special files are not resources");
    // Deleting a FIFO does not open it.
    server.call_ok("delete_file", json!({"path": "pipe"}));
}

#[cfg(unix)]
#[test]
fn symlink_loops_end_quickly() {
    let mut server = TestServer::builder().start_with(|_, root| {
        symlink("loop_b", root.join("loop_a")).unwrap();
        symlink("loop_a", root.join("loop_b")).unwrap();
        symlink(".", root.join("self")).unwrap();
    });
    let err = server.call_err("read_text_file", json!({"path": "loop_a"}));
    assert!(err.contains("too many levels of symbolic links"), "{err}");
    let err = server.call_err("write_file", json!({"path": "loop_a", "content": "x"}));
    assert!(err.contains("too many levels of symbolic links"), "{err}");
    // `self` points at the root: a few hops are fine, more than 40 are a loop.
    let ok = server.call_ok("read_text_file", json!({"path": "self/self/self/README.md"}));
    assert!(text(&ok).starts_with("# Corner Bookshop"));
    let deep = format!("{}README.md", "self/".repeat(41));
    let err = server.call_err("read_text_file", json!({"path": deep}));
    assert!(err.contains("too many levels"), "{err}");
    for (tool, args) in [
        ("directory_tree", json!({"path": ".", "includeIgnored": true})),
        ("search_files", json!({"path": ".", "pattern": "*"})),
        ("grep_files", json!({"path": ".", "pattern": "x"})),
    ] {
        server.call_ok(tool, args);
    }
    server.request("resources/list", json!({}));
}

#[test]
fn client_roots_narrow_the_sandbox_and_never_widen_it() {
    let mut server = TestServer::builder()
        .client_roots(|base, root| {
            setup(base, root);
            vec![
                crate::support::file_uri(&format!("{}/src", root.display())),
                crate::support::file_uri(&format!(
                    "{}/outside",
                    crate::support::canonical(base).display()
                )),
            ]
        })
        .start();
    // The server asks for roots after `initialized`, and file requests wait for the answer: the
    // very first one already sees the narrowing.
    let allowed = server.call_ok("list_allowed_directories", json!({}));
    let dirs = allowed["structuredContent"]["directories"].as_array().unwrap().clone();
    assert!(dirs.len() == 1 && dirs[0]["path"] == json!(server.path("src")), "{allowed}");
    server.call_ok("read_text_file", json!({"path": server.path("src/bookshop/pricing.py")}));
    let before = fingerprint(server.base.path());
    assert_refused(&mut server, "read_text_file", json!({"path": "README.md"}));
    let root = server.path("");
    assert_refused(&mut server, "list_directory", json!({"path": root}));
    assert_refused(&mut server, "write_file", json!({"path": "docs/x.md", "content": "x"}));
    let secret = crate::support::canonical(server.base.path()).join("outside/secret.txt");
    assert_refused(&mut server, "read_text_file", json!({"path": secret.display().to_string()}));
    let resources = server.request("resources/list", json!({}));
    let listed = resources["result"]["resources"].as_array().unwrap();
    assert!(
        !listed.is_empty() && listed.iter().all(|r| r["uri"].as_str().unwrap().contains("/src/")),
        "{resources}"
    );
    assert_eq!(before, fingerprint(server.base.path()));
}

#[test]
fn ignore_client_roots_keeps_the_configured_directories() {
    let mut server = TestServer::builder()
        .args(["--ignore-client-roots"])
        .client_roots(|_, root| vec![crate::support::file_uri(&format!("{}/src", root.display()))])
        .start();
    server.call_ok("read_text_file", json!({"path": "README.md"}));
    assert!(
        !server.notifications.iter().any(|n| n["method"] == "roots/list"),
        "roots/list should not be requested"
    );
}

/// Issue 10, item 3: a file request sent after `initialized` but before the client answered
/// `roots/list` was served against the whole configured directory; the same request sent later
/// was refused. File requests now wait for the answer.
#[test]
fn file_requests_wait_for_the_clients_roots_and_are_never_served_wider() {
    let mut server = TestServer::builder().hold_roots().start();
    let ask = server.expect_server_request("roots/list", Duration::from_secs(20));
    // Sent before the answer: must not be read against the configured root.
    let early = server.send_request(
        "tools/call",
        json!({ "name": "read_text_file", "arguments": { "path": "README.md" } }),
    );
    let listing = server.send_request("resources/list", json!({}));
    let src = crate::support::file_uri(&server.path("src"));
    server.respond(&ask, json!({ "roots": [{ "uri": src }] }));
    let early = server.wait_response(early, Duration::from_secs(20));
    assert_eq!(
        early["result"]["isError"],
        json!(true),
        "served wider than the client's roots: {early}"
    );
    assert!(text(&early["result"]).contains("outside the allowed directories"), "{early}");
    let listing = server.wait_response(listing, Duration::from_secs(20));
    let uris = listing["result"]["resources"].as_array().unwrap();
    assert!(uris.iter().all(|r| r["uri"].as_str().unwrap().contains("/src/")), "{listing}");
    server.call_ok("read_text_file", json!({ "path": server.path("src/bookshop/pricing.py") }));
}

/// The roots gate holds file requests only: SQL is answered while roots/list is unanswered.
#[test]
fn sql_requests_never_wait_for_the_clients_roots() {
    let mut server = TestServer::builder()
        .hold_roots()
        .setup_args(|_, root| {
            vec!["--db".to_owned(), format!("shop={}", root.join("data/bookshop.db").display())]
        })
        .start();
    server.expect_server_request("roots/list", Duration::from_secs(20));
    let file = server.send_request(
        "tools/call",
        json!({ "name": "read_text_file", "arguments": { "path": "README.md" } }),
    );
    let rows = server.call_ok("read_query", json!({ "query": "SELECT count(*) FROM books" }));
    assert!(rows["structuredContent"]["rows"][0][0].as_i64().unwrap() > 0, "{rows}");
    assert!(!server.has_response(file), "the file request waits for the roots");
}

/// After `ROOTS_WAIT` (5 s) without an answer, file requests are served against the configured
/// directories, with a warning.
#[test]
fn an_unanswered_roots_list_stops_holding_file_requests_after_five_seconds() {
    let mut server = TestServer::builder().hold_roots().start();
    server.expect_server_request("roots/list", Duration::from_secs(20));
    let read = server.call_ok("read_text_file", json!({ "path": "README.md" }));
    assert!(text(&read).starts_with("# Corner Bookshop"), "{read}");
    // The warning is logged when the wait ends; stderr is read on a thread of its own, so it may
    // arrive a moment after the answer.
    server.wait_stderr("did not answer roots/list", Duration::from_secs(20));
}

/// Issue 10, item 2: a client that declares roots and lists none (the MCP Inspector, the Python
/// SDK), or lists nothing usable, locked every file out. The configured directories stay.
#[test]
fn empty_or_unusable_client_roots_keep_the_configured_directories() {
    for roots in [vec![], vec!["https://example.com/repo".to_owned(), "file:relative".to_owned()]] {
        let shown = format!("{roots:?}");
        let mut server = TestServer::builder().client_roots(move |_, _| roots).start();
        let read = server.call_ok("read_text_file", json!({ "path": "README.md" }));
        assert!(text(&read).starts_with("# Corner Bookshop"), "{shown}: {read}");
        let allowed = server.call_ok("list_allowed_directories", json!({}));
        assert_eq!(
            allowed["structuredContent"]["directories"][0]["path"],
            json!(server.path("")),
            "{shown}"
        );
        server.wait_stderr("serving the configured directories", Duration::from_secs(20));
    }
}
