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
