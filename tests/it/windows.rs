//! Windows only: the sandbox against Windows path forms (drive letters in either case and with
//! either separator, `file:///C:/` URIs, verbatim, UNC and device paths, reserved device names,
//! alternate data streams, trailing dots and spaces, 8.3 short names), roots, nested read-only
//! roots and served databases matched case-insensitively, and atomic writes against files other
//! programs hold open. Run here under Wine (see `.ci/cross.sh`), which maps the Windows file API
//! onto Linux: it proves our code paths, not NTFS.
//!
//! Not here, and why: symbolic links and junctions, because Wine 8 cannot create them
//! (`CreateSymbolicLinkW` reports success and creates nothing); the sandbox resolves them with the
//! same component-by-component code as Unix symlinks, which `escape.rs` and `props.rs` test.

use std::fs;
use std::io::Read;
use std::os::windows::fs::OpenOptionsExt;

use serde_json::{Value, json};

use crate::support::{TestServer, file_uri, fingerprint, text};

fn assert_outside(server: &mut TestServer, tool: &str, args: Value) {
    let result = server.call_tool(tool, args.clone());
    let body = text(&result);
    if result["isError"] != json!(true) || !body.contains("outside the allowed directories") {
        server.fail(&format!("{tool} {args} was not refused as outside: {result}"));
    }
}

#[test]
fn drive_letter_paths_match_the_root_in_any_case_with_either_separator() {
    let mut server = TestServer::start();
    let root = server.path("");
    let lower = root.to_lowercase();
    let upper = root.to_uppercase();
    let forward = root.replace('\\', "/");
    for path in [
        format!("{root}\\README.md"),
        format!("{lower}\\readme.md"),
        format!("{upper}\\README.MD"),
        format!("{forward}/README.md"),
        format!("{}/README.md", lower.replace('\\', "/")),
        file_uri(&format!("{root}\\README.md")),
        file_uri(&format!("{lower}\\README.md")),
    ] {
        let read = server.call_ok("read_text_file", json!({ "path": path }));
        assert!(text(&read).starts_with("# Corner Bookshop"), "{path}: {read}");
    }
    let uri = server.uri("README.md");
    assert!(uri.starts_with("file:///") && uri.contains(":/"), "{uri}");
    let resource = server.request("resources/read", json!({ "uri": uri }));
    assert!(resource["result"]["contents"][0]["text"].is_string(), "{resource}");
    // Listed URIs are file:///C:/... and read back.
    let listed = server.request("resources/list", json!({}));
    let first = listed["result"]["resources"][0]["uri"].as_str().unwrap().to_owned();
    assert!(first.starts_with("file:///") && first.as_bytes()[9] == b':', "{first}");
    let again = server.request("resources/read", json!({ "uri": first }));
    assert!(again["result"]["contents"].is_array(), "{again}");
}

#[test]
fn windows_path_tricks_are_refused_and_change_nothing() {
    let mut server = TestServer::start();
    let root = server.path("");
    let before = fingerprint(server.base.path());
    let drive = &root[..2];
    let tricks = [
        format!("{drive}\\Windows\\win.ini"),
        format!("{}/windows/win.ini", drive.to_lowercase()),
        format!("file:///{drive}/Windows/win.ini"),
        "\\Windows\\win.ini".to_owned(),
        format!("{drive}README.md"),
        format!("\\\\?\\{root}\\README.md"),
        format!("\\\\?\\{}", root.to_lowercase()),
        "\\\\server\\share\\README.md".to_owned(),
        "//server/share/README.md".to_owned(),
        format!("\\\\.\\{root}\\README.md"),
        "\\\\.\\pipe\\anything".to_owned(),
        format!("{root}\\CON"),
        format!("{root}\\con.txt"),
        format!("{root}\\nul.txt"),
        format!("{root}\\docs\\COM1"),
        format!("{root}\\LPT9.md"),
        format!("{root}\\AUX\\x.txt"),
        format!("{root}\\README.md:secret"),
        format!("{root}\\README.md::$DATA"),
        format!("{root}\\README.md."),
        format!("{root}\\README.md "),
        format!("{root}\\docs.\\ordering.md"),
        format!("{root}\\READ~1.MD"),
        format!("{root}\\..\\outside.txt"),
        format!("{root}\\docs\\..\\..\\outside.txt"),
        format!("{root}-old\\README.md"),
    ];
    for path in &tricks {
        assert_outside(&mut server, "read_text_file", json!({ "path": path }));
        assert_outside(&mut server, "write_file", json!({ "path": path, "content": "pwned" }));
        assert_outside(&mut server, "create_directory", json!({ "path": path }));
        assert_outside(&mut server, "get_file_info", json!({ "path": path }));
        assert_outside(
            &mut server,
            "copy_file",
            json!({ "source": "README.md", "destination": path }),
        );
    }
    assert_eq!(before, fingerprint(server.base.path()), "a refused request changed something");
}

#[test]
fn nested_read_only_roots_and_served_databases_hold_under_any_case() {
    let mut server = TestServer::builder()
        .setup_args(|_, root| {
            vec![
                "--ro-root".to_owned(),
                root.join("docs").display().to_string(),
                "--db-rw".to_owned(),
                format!("shop={}", root.join("data").join("bookshop.db").display()),
            ]
        })
        .start();
    let before = fingerprint(&server.root);
    let upper = server.path("").to_uppercase();
    let err = server.call_err(
        "write_file",
        json!({ "path": format!("{upper}\\DOCS\\new.md"), "content": "x" }),
    );
    assert!(err.contains("read-only"), "{err}");
    let err = server.call_err(
        "delete_file",
        json!({ "path": format!("{upper}\\Docs\\ordering.md"), "recursive": true }),
    );
    assert!(err.contains("read-only"), "{err}");
    for path in ["DATA\\BOOKSHOP.DB", "Data"] {
        let err =
            server.call_err("delete_file", json!({ "path": server.path(path), "recursive": true }));
        assert!(err.contains("database \"shop\""), "{path}: {err}");
    }
    for path in ["DATA\\BOOKSHOP.DB", "data\\Bookshop.db-WAL"] {
        let err =
            server.call_err("write_file", json!({ "path": server.path(path), "content": "oops" }));
        assert!(err.contains("database \"shop\""), "{path}: {err}");
    }
    assert_eq!(before, fingerprint(&server.root), "nothing changed");
}

#[test]
fn a_write_to_a_file_another_program_holds_open_retries_then_fails_clearly() {
    let mut server = TestServer::start();
    let path = server.path("README.md");
    let original = fs::read(&path).unwrap();
    // Another program: a handle with no sharing at all.
    let held = fs::OpenOptions::new().read(true).share_mode(0).open(&path).unwrap();
    let err = server.call_err("write_file", json!({ "path": path, "content": "replaced\n" }));
    assert!(err.contains("open in another program"), "{err}");
    drop(held);
    assert_eq!(fs::read(&path).unwrap(), original, "the file is whole and unchanged");
    let leftovers: Vec<_> = fs::read_dir(&server.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mcp-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Once it is closed, the write goes through.
    server.call_ok("write_file", json!({ "path": path, "content": "replaced\n" }));
    assert_eq!(fs::read_to_string(&path).unwrap(), "replaced\n");
}

#[test]
fn a_delete_waits_for_a_file_held_open_for_a_moment_and_fails_clearly_if_it_stays_open() {
    let mut server = TestServer::start();
    let held_path = server.root.join("src/bookshop/inventory.py");
    // Held throughout: a clear error; the open file is still there.
    let held = fs::OpenOptions::new().read(true).share_mode(0).open(&held_path).unwrap();
    let err = server.call_err("delete_file", json!({ "path": "src", "recursive": true }));
    assert!(err.contains("open in another program") && err.contains("stays deleted"), "{err}");
    assert!(held_path.is_file(), "the open file was not deleted");
    // Held for a moment (an editor, an indexer, this server's own watcher): the delete waits
    // for it and goes through. The retries span about a second; the handle closes after 0.1 s.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
    });
    server.call_ok("delete_file", json!({ "path": "src", "recursive": true }));
    releaser.join().unwrap();
    assert!(!server.root.join("src").exists());
}

#[test]
fn a_move_of_a_file_held_open_leaves_both_names_as_they_were_then_goes_through() {
    let mut server = TestServer::start();
    let from = server.root.join("README.md");
    let original = fs::read(&from).unwrap();
    let held = fs::OpenOptions::new().read(true).share_mode(0).open(&from).unwrap();
    let err =
        server.call_err("move_file", json!({ "source": "README.md", "destination": "moved.md" }));
    assert!(err.contains("open in another program") && err.contains("nothing was moved"), "{err}");
    drop(held);
    assert_eq!(fs::read(&from).unwrap(), original);
    assert!(!server.root.join("moved.md").exists(), "no second name is left behind");
    server.call_ok("move_file", json!({ "source": "README.md", "destination": "moved.md" }));
    assert_eq!(fs::read(server.root.join("moved.md")).unwrap(), original);
}

#[test]
fn a_read_only_file_can_be_moved_and_keeps_its_attribute() {
    let mut server = TestServer::start();
    let from = server.root.join("README.md");
    let original = fs::read(&from).unwrap();
    let mut permissions = fs::metadata(&from).unwrap().permissions();
    permissions.set_readonly(true);
    fs::set_permissions(&from, permissions).unwrap();
    server.call_ok("move_file", json!({ "source": "README.md", "destination": "moved.md" }));
    let to = server.root.join("moved.md");
    assert!(!from.exists(), "the old name is gone");
    assert_eq!(fs::read(&to).unwrap(), original);
    assert!(fs::metadata(&to).unwrap().permissions().readonly(), "still read-only");
    // Moving it onto an existing name is still refused.
    let err = server.call_err("move_file", json!({ "source": "moved.md", "destination": "docs" }));
    assert!(err.contains("exists"), "{err}");
    assert_eq!(fs::read(&to).unwrap(), original);
}

#[test]
fn readers_never_see_a_partial_file() {
    let mut server = TestServer::start();
    let path = server.path("big.txt");
    let a = "a".repeat(1 << 20);
    let b = "b".repeat(1 << 20);
    fs::write(&path, &a).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), std::sync::Arc::clone(&stop));
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A read may find the file being swapped (a sharing error): then it reads nothing.
                let Ok(mut file) = fs::File::open(&path) else { continue };
                let mut seen = String::new();
                if file.read_to_string(&mut seen).is_ok() {
                    assert!(seen == a || seen == b, "a partial file of {} bytes", seen.len());
                    reads += 1;
                }
            }
            reads
        })
    };
    for round in 0..20 {
        let content = if round % 2 == 0 { &b } else { &a };
        let result = server.call_tool("write_file", json!({ "path": path, "content": content }));
        // A write may find the reader holding the file through all its retries; that is the
        // clear error of the test above, never a torn file.
        if result["isError"] == json!(true) {
            assert!(text(&result).contains("open in another program"), "{result}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw only whole files");
    assert!(reads > 0, "the reader read nothing");
}
