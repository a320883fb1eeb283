//! One test per fixed defect, named after what it guards, with the issue that found it.

use serde_json::json;

use crate::support::{TestServer, sample_data, text};

/// Issue 10, item 1: `create_table` refused ordinary tables whose constraints make SQLite create
/// automatic indexes (`sqlite_autoindex_*`), including the shape of the sample's `order_items`.
#[test]
fn create_table_accepts_tables_whose_constraints_create_automatic_indexes() {
    let mut server = TestServer::builder()
        .setup_args(|base, _| {
            let db = base.join("scratch.db");
            std::fs::copy(sample_data().join("data/bookshop.db"), &db).unwrap();
            vec!["--db-rw".to_owned(), format!("scratch={}", db.display())]
        })
        .start();
    for query in [
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v)",
        "CREATE TABLE pairs (a, b, UNIQUE(a, b))",
        "CREATE TABLE lines (order_id INTEGER NOT NULL, line INTEGER NOT NULL, qty INTEGER, \
         PRIMARY KEY (order_id, line)) WITHOUT ROWID",
    ] {
        server.call_ok("create_table", json!({ "query": query }));
    }
    let tables = server.call_ok("list_tables", json!({}));
    for table in ["kv", "pairs", "lines"] {
        assert!(text(&tables).contains(table), "{table}: {}", text(&tables));
    }
    // An index on another table is still not a CREATE TABLE.
    let err = server.call_err("create_table", json!({ "query": "CREATE INDEX i ON books(title)" }));
    assert!(err.contains("CREATE INDEX i"), "{err}");
}

/// Issue 10, item 8: the server's temporary files (a write in flight, or one a killed server left)
/// showed up in listings, trees, searches, grep and resources/list.
#[test]
fn the_servers_temporary_files_are_hidden_everywhere() {
    let mut server = TestServer::builder().start_with(|_, root| {
        std::fs::write(root.join(".mcp-tmp.4242.7"), "half a write: bookshop\n").unwrap();
        std::fs::write(root.join("docs/.mcp-tmp.4242.8"), "half a write: bookshop\n").unwrap();
    });
    let root = server.path("");
    let calls = [
        ("list_directory", json!({ "path": root })),
        ("list_directory_with_sizes", json!({ "path": root })),
        ("directory_tree", json!({ "path": root })),
        ("directory_tree", json!({ "path": root, "includeIgnored": true })),
        ("search_files", json!({ "path": root, "pattern": "**/*" })),
        ("search_files", json!({ "path": root, "pattern": "**/.*", "includeIgnored": true })),
        ("grep_files", json!({ "path": root, "pattern": "half a write" })),
    ];
    for (tool, args) in calls {
        let result = server.call_ok(tool, args.clone());
        let shown = format!("{}{}", text(&result), result["structuredContent"]);
        assert!(!shown.contains("mcp-tmp"), "{tool} {args} shows a temporary file: {shown}");
    }
    let mut cursor = None::<String>;
    loop {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let page = server.request("resources/list", params);
        let listed = page["result"]["resources"].to_string();
        assert!(!listed.contains("mcp-tmp"), "resources/list shows a temporary file: {listed}");
        match page["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
}

/// Issue 10, item 11: a `--db` database inside a writable root could be overwritten, moved or
/// deleted with the file tools (one call replaced the 556 KB bookshop.db with 4 bytes). The file
/// tools now refuse every change to a served database and its journal files, read-only or not.
#[test]
fn the_file_tools_never_change_a_served_database_or_its_journals() {
    let mut server = TestServer::builder()
        .setup_args(|_, root| {
            std::fs::copy(root.join("data/bookshop.db"), root.join("data/scratch.db")).unwrap();
            vec![
                "--db".to_owned(),
                format!("shop={}", root.join("data/bookshop.db").display()),
                "--db-rw".to_owned(),
                format!("scratch={}", root.join("data/scratch.db").display()),
            ]
        })
        .start();
    #[cfg(unix)]
    std::os::unix::fs::symlink("data/bookshop.db", server.path("shop-link.db")).unwrap();
    std::fs::write(server.path("notes.txt"), "notes\n").unwrap();
    let before = crate::support::fingerprint(&server.root);
    let db = server.path("data/bookshop.db");
    let wal = server.path("data/bookshop.db-wal");
    let rw = server.path("data/scratch.db");
    let refused = [
        ("write_file", json!({ "path": db, "content": "oops" })),
        ("write_file", json!({ "path": wal, "content": "oops" })),
        ("write_file", json!({ "path": server.path("data/scratch.db-journal"), "content": "x" })),
        ("write_file", json!({ "path": server.path("data/bookshop.db-shm/x"), "content": "x" })),
        ("write_file", json!({ "path": rw, "content": "oops" })),
        ("edit_file", json!({ "path": db, "edits": [{ "oldText": "SQLite", "newText": "x" }] })),
        ("move_file", json!({ "source": db, "destination": server.path("moved.db") })),
        ("move_file", json!({ "source": rw, "destination": server.path("moved.db") })),
        ("move_file", json!({ "source": server.path("notes.txt"), "destination": wal })),
        ("move_file", json!({ "source": server.path("data"), "destination": server.path("d2") })),
        (
            "copy_file",
            json!({ "source": server.path("notes.txt"), "destination": db, "overwrite": true }),
        ),
        ("copy_file", json!({ "source": server.path("notes.txt"), "destination": wal })),
        ("delete_file", json!({ "path": db })),
        ("delete_file", json!({ "path": rw })),
        ("delete_file", json!({ "path": server.path("data"), "recursive": true })),
        ("create_directory", json!({ "path": wal })),
    ];
    for (tool, args) in refused {
        let err = server.call_err(tool, args.clone());
        assert!(
            err.contains("database \"shop\"") || err.contains("database \"scratch\""),
            "{tool} {args}: the error names the database: {err}"
        );
    }
    #[cfg(unix)]
    {
        let err = server.call_err(
            "write_file",
            json!({ "path": server.path("shop-link.db"), "content": "through the link" }),
        );
        assert!(err.contains("database \"shop\""), "{err}");
    }
    assert_eq!(before, crate::support::fingerprint(&server.root), "nothing changed");
    // The writable database still changes through SQL, and other files through the file tools.
    server.call_ok("write_query", json!({ "db": "scratch", "query": "DELETE FROM order_items" }));
    server.call_ok("write_file", json!({ "path": server.path("data/other.txt"), "content": "ok" }));
    server.call_ok("read_query", json!({ "db": "shop", "query": "SELECT count(*) FROM books" }));
}

/// Issue 12, item 1 (its race-free half): a read-only root nested in a writable one could be
/// changed by moving or deleting a directory that holds it.
#[test]
fn a_directory_holding_a_read_only_root_cannot_be_moved_or_deleted() {
    let mut server = TestServer::builder()
        .empty()
        .setup_args(|_, root| {
            std::fs::create_dir_all(root.join("p/ro")).unwrap();
            std::fs::write(root.join("p/ro/precious.txt"), "keep me\n").unwrap();
            std::fs::write(root.join("p/other.txt"), "other\n").unwrap();
            vec!["--ro-root".to_owned(), root.join("p/ro").display().to_string()]
        })
        .start();
    let before = crate::support::fingerprint(&server.root);
    for (tool, args) in [
        ("move_file", json!({ "source": server.path("p"), "destination": server.path("q") })),
        ("delete_file", json!({ "path": server.path("p"), "recursive": true })),
        ("delete_file", json!({ "path": server.path("p/ro"), "recursive": true })),
        ("move_file", json!({ "source": server.path("p/ro"), "destination": server.path("r") })),
    ] {
        let err = server.call_err(tool, args.clone());
        assert!(err.contains("read-only"), "{tool} {args}: {err}");
    }
    assert_eq!(before, crate::support::fingerprint(&server.root), "nothing changed");
    server.call_ok("delete_file", json!({ "path": server.path("p/other.txt") }));
}
