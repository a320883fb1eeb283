//! SQLite through the real binary: the attack list (read and write tools, database and disk
//! hashed before and after), result encoding, paging, limits, timeouts, cancellation, locks, WAL,
//! several databases, resources, completion, start-up errors and the sample database.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::{TestServer, fingerprint, sample_data, start_error, text};

/// Creates a database at `path` with `sql`.
fn make_db(path: &Path, sql: &str) {
    let conn = Connection::open(path).expect("create test database");
    conn.execute_batch(sql).expect("set up test database");
}

const T_SQL: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
     INSERT INTO t(name) VALUES ('alpha'), ('beta'), ('gamma');";

/// A server (no directory) over `ro.db` (read-only) and `rw.db` (writable), both holding `t`.
fn two_db_server(extra: &[&str]) -> TestServer {
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    TestServer::builder()
        .empty()
        .no_root_arg()
        .setup_args(move |base, _| {
            make_db(&base.join("ro.db"), T_SQL);
            make_db(&base.join("rw.db"), T_SQL);
            let mut args = vec![
                "--db".to_owned(),
                format!("ro={}", base.join("ro.db").display()),
                "--db-rw".to_owned(),
                format!("rw={}", base.join("rw.db").display()),
            ];
            args.extend(extra);
            args
        })
        .start()
}

/// The structured content of a successful call.
fn structured(server: &mut TestServer, tool: &str, args: Value) -> Value {
    let result = server.call_ok(tool, args);
    result["structuredContent"].clone()
}

fn base_path(server: &TestServer, name: &str) -> String {
    server.base.path().join(name).display().to_string()
}

#[test]
fn attack_list_is_refused_through_both_tools_and_changes_nothing() {
    let mut server = two_db_server(&[]);
    let base = server.base.path().to_owned();
    let before = fingerprint(&base);
    let outside = base_path(&server, "outside.db");
    let copy = base_path(&server, "copy.db");

    // (statement, what the refusal says, whether the write tool must refuse it too on rw). The
    // read tool may refuse a statement that writes for that reason alone ("only reads").
    let attacks: Vec<(String, &str, bool)> = vec![
        ("SELECT 1; DROP TABLE t".into(), "one SQL statement", true),
        ("SELECT 1; SELECT 2".into(), "one SQL statement", true),
        ("/* c */ DELETE FROM t".into(), "only reads", false),
        ("-- c\nDELETE FROM t".into(), "only reads", false),
        ("WITH x AS (SELECT 1) DELETE FROM t".into(), "only reads", false),
        ("INSERT INTO t(name) VALUES ('x') RETURNING *".into(), "only reads", false),
        (format!("ATTACH DATABASE '{outside}' AS x"), "ATTACH", true),
        (format!("VACUUM INTO '{copy}'"), "VACUUM", true),
        ("VACUUM".into(), "VACUUM", true),
        ("ANALYZE".into(), "only reads", false),
        ("PRAGMA writable_schema=ON".into(), "PRAGMA writable_schema", true),
        ("PRAGMA journal_mode=WAL".into(), "PRAGMA journal_mode", true),
        ("PRAGMA user_version=7".into(), "PRAGMA user_version", true),
        ("PRAGMA query_only=0".into(), "PRAGMA query_only", true),
        ("SELECT load_extension('x')".into(), "load_extension", true),
        ("CREATE TEMP VIEW t AS SELECT 'shadow'".into(), "temporary", true),
        ("CREATE TEMP TABLE s(x)".into(), "temporary", true),
        ("BEGIN".into(), "transaction control", true),
        ("BEGIN IMMEDIATE".into(), "transaction control", true),
        ("SAVEPOINT s".into(), "transaction control", true),
        ("COMMIT".into(), "transaction control", true),
        ("SELECT fts3_tokenizer('simple')".into(), "fts3_tokenizer", true),
        ("SELECT zeroblob(500000000)".into(), "too big", true),
        ("SELECT randomblob(500000000)".into(), "too big", true),
    ];
    for (sql, says, on_write) in &attacks {
        for db in ["ro", "rw"] {
            let err = server.call_err("read_query", json!({ "db": db, "query": sql }));
            assert!(
                err.contains(says) || (says.contains("VACUUM") && err.contains("only reads")),
                "read_query {sql:?} on {db}: {err}"
            );
            // The write tool on a read-only database: refused with the fix.
            let err = server.call_err("write_query", json!({ "db": "ro", "query": sql }));
            assert!(err.contains("read-only") && err.contains("--db-rw"), "{sql:?}: {err}");
        }
        if *on_write {
            let err = server.call_err("write_query", json!({ "db": "rw", "query": sql }));
            assert!(err.contains(says), "write_query {sql:?} on rw: {err}");
        }
    }
    // The ones that change settings, through the other tools that take SQL.
    for sql in ["PRAGMA journal_mode=WAL", "PRAGMA user_version=7", "VACUUM", "ANALYZE"] {
        // Explaining a statement never runs it (checked by the fingerprint below).
        server.call_tool("explain_query", json!({ "db": "ro", "query": sql }));
        server.call_tool("explain_query", json!({ "db": "rw", "query": sql }));
        let err = server.call_err("create_table", json!({ "db": "rw", "query": sql }));
        assert!(!err.is_empty(), "{sql}");
    }
    // describe_table binds the name.
    for db in ["ro", "rw"] {
        let err = server
            .call_err("describe_table", json!({ "db": db, "table_name": "x); DROP TABLE t; --" }));
        assert!(err.contains("no such table"), "{err}");
        let err =
            server.call_err("describe_table", json!({ "db": db, "table_name": "t' OR '1'='1" }));
        assert!(err.contains("no such table"), "{err}");
    }

    // What must keep working.
    for db in ["ro", "rw"] {
        let info = structured(
            &mut server,
            "read_query",
            json!({ "db": db, "query": "PRAGMA table_info(t)" }),
        );
        assert_eq!(info["row_count"], 2, "{info}");
        let list = structured(
            &mut server,
            "read_query",
            json!({ "db": db, "query": "SELECT name FROM pragma_table_list WHERE schema = 'main' ORDER BY name" }),
        );
        assert!(list["rows"].to_string().contains("\"t\""), "{list}");
        let rows = structured(
            &mut server,
            "read_query",
            json!({ "db": db, "query": "SELECT count(*) AS n FROM t" }),
        );
        assert_eq!(rows["rows"], json!([[3]]), "{rows}");
        let cte = structured(
            &mut server,
            "read_query",
            json!({ "db": db, "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 10) SELECT sum(x) FROM c" }),
        );
        assert_eq!(cte["rows"], json!([[55]]), "{cte}");
    }

    // Extension loading is compiled out of SQLite, not only refused.
    let options = structured(
        &mut server,
        "read_query",
        json!({ "db": "ro", "query": "SELECT compile_options FROM pragma_compile_options WHERE compile_options LIKE '%LOAD_EXTENSION%'" }),
    );
    assert_eq!(options["rows"], json!([["OMIT_LOAD_EXTENSION"]]), "{options}");

    assert!(server.is_running());
    assert_eq!(fingerprint(&base), before, "a refused statement changed a file");
    assert!(!Path::new(&outside).exists() && !Path::new(&copy).exists());
}

#[test]
fn writes_report_changes_return_rows_and_roll_back_on_failure() {
    let mut server = two_db_server(&[]);
    let out = structured(
        &mut server,
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO t(name) VALUES (?1), (?2) RETURNING id, name", "params": ["delta", "epsilon"] }),
    );
    assert_eq!(out["rows_changed"], 2, "{out}");
    assert_eq!(out["returning"]["rows"], json!([[4, "delta"], [5, "epsilon"]]), "{out}");
    let out = structured(
        &mut server,
        "write_query",
        json!({ "db": "rw", "query": "UPDATE t SET name = upper(name) WHERE id <= 2" }),
    );
    assert_eq!(out["rows_changed"], 2, "{out}");

    // A statement that fails half-way leaves nothing behind (its savepoint is rolled back).
    let err = server.call_err(
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO t(name) VALUES ('zeta'), ('delta')" }),
    );
    assert!(err.contains("UNIQUE"), "{err}");
    let count = structured(
        &mut server,
        "read_query",
        json!({ "db": "rw", "query": "SELECT count(*) FROM t WHERE name = 'zeta'" }),
    );
    assert_eq!(count["rows"], json!([[0]]), "{count}");

    // create_table creates tables and nothing else.
    let out = structured(
        &mut server,
        "create_table",
        json!({ "db": "rw", "query": "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)" }),
    );
    assert_eq!(out["rows_changed"], 0, "{out}");
    let err = server.call_err("create_table", json!({ "db": "rw", "query": "DROP TABLE t" }));
    assert!(err.contains("create_table"), "{err}");
    let err = server
        .call_err("create_table", json!({ "db": "rw", "query": "CREATE INDEX i ON t(name)" }));
    assert!(err.contains("create_table"), "{err}");
    let tables = structured(&mut server, "list_tables", json!({ "db": "rw" }));
    assert_eq!(
        tables["tables"],
        json!([{"name": "notes", "type": "table"}, {"name": "t", "type": "table"}])
    );

    // The file on disk has the committed rows (another connection sees them).
    let conn = Connection::open(server.base.path().join("rw.db")).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["ALPHA", "BETA", "gamma", "delta", "epsilon"]);
    // And the read-only database is untouched.
    let conn = Connection::open(server.base.path().join("ro.db")).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3);
}

#[test]
fn a_read_only_server_offers_no_write_tools() {
    let mut server = TestServer::builder()
        .empty()
        .no_root_arg()
        .setup_args(|base, _| {
            make_db(&base.join("ro.db"), T_SQL);
            vec!["--db".into(), base.join("ro.db").display().to_string()]
        })
        .start();
    let tools = server.request("tools/list", json!({}));
    let names: BTreeSet<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let expected: BTreeSet<&str> =
        ["list_databases", "list_tables", "describe_table", "read_query", "explain_query"].into();
    assert_eq!(names, expected, "databases only, read-only: no file tools, no write tools");
    for tool in tools["result"]["tools"].as_array().unwrap() {
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
        assert!(tool["outputSchema"].is_object(), "{tool}");
    }
    // The database is named after the file's stem.
    let dbs = structured(&mut server, "list_databases", json!({}));
    assert_eq!(dbs["databases"][0]["name"], "ro", "{dbs}");
    assert_eq!(dbs["databases"][0]["writable"], false, "{dbs}");
    assert_eq!(dbs["databases"][0]["tables"], 1, "{dbs}");
    let response = server.request(
        "tools/call",
        json!({ "name": "write_query", "arguments": { "query": "DELETE FROM t" } }),
    );
    assert!(response.get("error").is_some() || response["result"]["isError"] == true, "{response}");
}

#[test]
fn cells_keep_their_types_blobs_are_encoded_and_big_integers_are_strings() {
    let mut server = two_db_server(&["--max-cell-bytes", "64"]);
    let out = structured(
        &mut server,
        "read_query",
        json!({ "db": "ro", "query": "SELECT NULL AS n, 1 AS i, 1.5 AS r, 'text' AS s, '' AS e, x'00ff10' AS b, \
            9007199254740991 AS safe, 9007199254740993 AS big, -9007199254740993 AS neg, \
            zeroblob(1000) AS large, printf('%.200c', 'x') AS long, '1' AS digits" }),
    );
    let row = &out["rows"][0];
    assert_eq!(row[0], Value::Null);
    assert_eq!(row[1], json!(1));
    assert_eq!(row[2], json!(1.5));
    assert_eq!(row[3], json!("text"));
    assert_eq!(row[4], json!(""));
    assert_eq!(row[5], json!({"$base64": true, "encoded": "AP8Q"}));
    assert_eq!(row[6], json!(9_007_199_254_740_991_i64));
    assert_eq!(row[7], json!("9007199254740993"));
    assert_eq!(row[8], json!("-9007199254740993"));
    assert_eq!(row[9], json!({"$blob": true, "size": 1000}));
    let long = row[10].as_str().unwrap();
    assert!(long.starts_with("xxxx") && long.contains("[cut: ") && long.len() < 120, "{long}");
    assert_eq!(row[11], json!("1"), "a string of digits stays a string");
    assert_eq!(
        out["types"],
        json!([null, null, null, null, null, null, null, null, null, null, null, null])
    );

    // Declared types come through, and params bind every kind.
    let out = structured(
        &mut server,
        "write_query",
        json!({ "db": "rw", "query": "CREATE TABLE k(i INTEGER, r REAL, s TEXT, b BLOB)" }),
    );
    assert_eq!(out["rows_changed"], 0);
    structured(
        &mut server,
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO k VALUES (?1, ?2, ?3, ?4)",
                "params": [9007199254740993_i64, 2.25, "ü", {"$base64": true, "encoded": "AP8Q"}] }),
    );
    let out = structured(
        &mut server,
        "read_query",
        json!({ "db": "rw", "query": "SELECT i, r, s, b, typeof(b) FROM k" }),
    );
    assert_eq!(out["types"], json!(["INTEGER", "REAL", "TEXT", "BLOB", null]));
    assert_eq!(
        out["rows"],
        json!([["9007199254740993", 2.25, "ü", {"$base64": true, "encoded": "AP8Q"}, "blob"]])
    );

    // Markdown and CSV for display, with the same structured content.
    let result = server.call_ok(
        "read_query",
        json!({ "db": "ro", "query": "SELECT id, name FROM t ORDER BY id", "format": "markdown" }),
    );
    let md = text(&result);
    assert!(md.contains("| id | name |") && md.contains("| 1 | alpha |"), "{md}");
    let result = server.call_ok(
        "read_query",
        json!({ "db": "ro", "query": "SELECT id, name FROM t ORDER BY id", "format": "csv" }),
    );
    let csv = text(&result);
    assert!(csv.starts_with("id,name\n1,alpha\n"), "{csv}");
    assert_eq!(result["structuredContent"]["row_count"], 3);
}

#[test]
fn cursor_paging_returns_every_row_exactly_once() {
    let mut server = TestServer::builder()
        .empty()
        .no_root_arg()
        .args(["--max-rows", "100"])
        .setup_args(|base, _| {
            make_db(
                &base.join("n.db"),
                "CREATE TABLE n(id INTEGER PRIMARY KEY, label TEXT);
                 WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1234)
                 INSERT INTO n SELECT x, 'row ' || x FROM c;",
            );
            vec!["--db".into(), base.join("n.db").display().to_string()]
        })
        .start();
    let query = "SELECT id, label FROM n WHERE id % ?1 <> 0 ORDER BY label";
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({ "query": query, "params": [7] });
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = structured(&mut server, "read_query", args);
        pages += 1;
        for row in page["rows"].as_array().unwrap() {
            seen.push(row[0].as_i64().unwrap());
        }
        assert!(page["row_count"].as_u64().unwrap() <= 100, "{page}");
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page["truncated"], true);
                cursor = Some(next.to_owned());
            }
            None => {
                assert_eq!(page["truncated"], false);
                break;
            }
        }
    }
    let expected: Vec<i64> = (1..=1234).filter(|x| x % 7 != 0).collect();
    assert_eq!(seen.len(), expected.len(), "no row twice, none missing");
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique, expected.iter().copied().collect::<BTreeSet<_>>());
    assert_eq!(pages, expected.len().div_ceil(100));

    // A cursor only fits its own query and params.
    let first = structured(&mut server, "read_query", json!({ "query": query, "params": [7] }));
    let cursor = first["next_cursor"].as_str().unwrap();
    for args in [
        json!({ "query": query, "params": [8], "cursor": cursor }),
        json!({ "query": "SELECT 1", "cursor": cursor }),
        json!({ "query": query, "params": [7], "cursor": "garbage" }),
    ] {
        let err = server.call_err("read_query", args);
        assert!(err.contains("invalid cursor"), "{err}");
    }
}

/// Peak resident memory of a process, from /proc (Linux).
#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// Peak memory comes from /proc.
#[cfg(target_os = "linux")]
#[test]
fn ten_million_rows_stream_a_page_at_a_time_in_flat_memory() {
    // The count below runs ten million steps: on a busy machine that may take far longer than the
    // default timeout, and this test is about memory, not speed.
    let mut server = two_db_server(&["--query-timeout", "600s"]);
    let before = peak_rss_kib(server.pid());
    // Ten million rows of a kilobyte each: 10 GB if anything held them.
    let query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 10000000) \
                 SELECT x, printf('%.1000c', 'r') AS pad FROM c";
    let first = structured(&mut server, "read_query", json!({ "db": "ro", "query": query }));
    assert_eq!(first["truncated"], true, "{}", first["row_count"]);
    let n = first["row_count"].as_u64().unwrap();
    assert!(n > 0 && n <= 500, "{n}");
    assert_eq!(first["rows"][0][0], 1);
    let second = structured(
        &mut server,
        "read_query",
        json!({ "db": "ro", "query": query, "cursor": first["next_cursor"] }),
    );
    assert_eq!(second["rows"][0][0], n + 1, "the next page starts where the first ended");
    assert_eq!(second["truncated"], true);
    // A count over all ten million runs in the engine without rows leaving it.
    let count = server.call_tool_timeout(
        "read_query",
        json!({ "db": "ro", "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 10000000) SELECT count(*) FROM c" }),
        std::time::Duration::from_secs(600),
    );
    assert_eq!(count["structuredContent"]["rows"], json!([[10_000_000]]), "{count}");
    let after = peak_rss_kib(server.pid());
    assert!(
        after < before + 64 * 1024,
        "peak memory grew from {before} KiB to {after} KiB: rows are being held"
    );
}

const RUNAWAY: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";

#[test]
fn a_runaway_query_times_out_while_the_server_keeps_answering() {
    let mut server = TestServer::builder()
        .args(["--query-timeout", "4s"])
        .setup_args(|base, _| {
            make_db(&base.join("a.db"), T_SQL);
            make_db(&base.join("b.db"), T_SQL);
            vec![
                "--db".into(),
                base.join("a.db").display().to_string(),
                "--db".into(),
                base.join("b.db").display().to_string(),
            ]
        })
        .start();
    let runaway = server.send_request(
        "tools/call",
        json!({ "name": "read_query", "arguments": { "db": "a", "query": RUNAWAY } }),
    );
    // While it runs: a ping, a file read, and a query on the other database all answer.
    let ping = server.request("ping", json!({}));
    assert!(ping.get("result").is_some(), "{ping}");
    let readme = server.call_ok("read_text_file", json!({ "path": "README.md", "head": 1 }));
    assert!(text(&readme).contains("Corner Bookshop"));
    let other = structured(
        &mut server,
        "read_query",
        json!({ "db": "b", "query": "SELECT count(*) FROM t" }),
    );
    assert_eq!(other["rows"], json!([[3]]));
    assert!(!server.has_response(runaway), "the runaway query answered before the others");

    let response = server.wait_response(runaway, Duration::from_secs(30));
    let result = &response["result"];
    assert_eq!(result["isError"], true, "{response}");
    let message = text(result);
    assert!(message.contains("timeout") && message.contains("--query-timeout"), "{message}");
    assert!(message.contains("narrow"), "{message}");
    // The connection is still usable.
    let again = structured(
        &mut server,
        "read_query",
        json!({ "db": "a", "query": "SELECT count(*) FROM t" }),
    );
    assert_eq!(again["rows"], json!([[3]]));
}

#[test]
fn cancelling_a_running_query_interrupts_it() {
    // The timeout is far beyond the harness's wait: only the cancellation can free the worker.
    let mut server = two_db_server(&["--query-timeout", "10m"]);
    let runaway = server.send_request(
        "tools/call",
        json!({ "name": "read_query", "arguments": { "db": "ro", "query": RUNAWAY } }),
    );
    let ping = server.request("ping", json!({}));
    assert!(ping.get("result").is_some());
    server.notify(
        "notifications/cancelled",
        json!({ "requestId": runaway, "reason": "the user changed their mind" }),
    );
    // The same database's worker answers the next query, so the runaway has stopped.
    let next = structured(&mut server, "read_query", json!({ "db": "ro", "query": "SELECT 42" }));
    assert_eq!(next["rows"], json!([[42]]));
    assert!(server.is_running());
}

#[test]
fn a_locked_database_gives_a_bounded_wait_and_a_clear_busy_error() {
    let mut server = two_db_server(&["--query-timeout", "1s"]);
    let holder = Connection::open(server.base.path().join("ro.db")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t(name) VALUES ('locked');").unwrap();
    let err =
        server.call_err("read_query", json!({ "db": "ro", "query": "SELECT count(*) FROM t" }));
    assert!(err.contains("busy") && err.contains("another process"), "{err}");
    let err = server.call_err("list_tables", json!({ "db": "ro" }));
    assert!(err.contains("busy"), "{err}");
    // The other database is not affected.
    let other = structured(
        &mut server,
        "read_query",
        json!({ "db": "rw", "query": "SELECT count(*) FROM t" }),
    );
    assert_eq!(other["rows"], json!([[3]]));
    holder.execute_batch("COMMIT").unwrap();
    let now = structured(
        &mut server,
        "read_query",
        json!({ "db": "ro", "query": "SELECT count(*) FROM t" }),
    );
    assert_eq!(now["rows"], json!([[4]]), "the committed row is visible once the lock is gone");

    // Writes wait the same bounded time.
    let holder = Connection::open(server.base.path().join("rw.db")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t(name) VALUES ('mine');").unwrap();
    let err = server.call_err(
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO t(name) VALUES ('theirs')" }),
    );
    assert!(err.contains("busy"), "{err}");
    holder.execute_batch("COMMIT").unwrap();
}

#[test]
fn a_wal_database_written_by_another_process_is_read_correctly() {
    let mut server = TestServer::builder()
        .empty()
        .no_root_arg()
        .setup_args(|base, _| {
            let path = base.join("wal.db");
            make_db(&path, &format!("PRAGMA journal_mode=WAL; {T_SQL}"));
            vec!["--db".into(), path.display().to_string()]
        })
        .start();
    // A writer that keeps its connection open, so its commits stay in the -wal file.
    let writer = Connection::open(server.base.path().join("wal.db")).unwrap();
    let mode: String = writer.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    writer.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
    for round in 1..=3 {
        writer.execute("INSERT INTO t(name) VALUES (?1)", [format!("wal {round}")]).unwrap();
        let out =
            structured(&mut server, "read_query", json!({ "query": "SELECT count(*) FROM t" }));
        assert_eq!(out["rows"], json!([[3 + round]]), "round {round}");
    }
    assert!(server.base.path().join("wal.db-wal").exists());
    let mode = structured(&mut server, "read_query", json!({ "query": "PRAGMA journal_mode" }));
    assert_eq!(mode["rows"], json!([["wal"]]));
}

#[test]
fn several_databases_need_db_and_one_does_not() {
    let mut server = two_db_server(&[]);
    let err = server.call_err("list_tables", json!({}));
    assert!(
        err.contains("several databases")
            && err.contains("ro")
            && err.contains("rw")
            && err.contains("db"),
        "{err}"
    );
    let err = server.call_err("read_query", json!({ "query": "SELECT 1" }));
    assert!(err.contains("pass db"), "{err}");
    let err = server.call_err("read_query", json!({ "db": "nope", "query": "SELECT 1" }));
    assert!(err.contains("no database named \"nope\"") && err.contains("ro, rw"), "{err}");
    let dbs = structured(&mut server, "list_databases", json!({}));
    assert_eq!(dbs["databases"][0]["name"], "ro");
    assert_eq!(dbs["databases"][0]["writable"], false);
    assert_eq!(dbs["databases"][1]["name"], "rw");
    assert_eq!(dbs["databases"][1]["writable"], true);
    assert!(dbs["databases"][1]["size_bytes"].as_u64().unwrap() > 0);

    // With one database, db may be left out.
    let mut one = TestServer::builder()
        .setup_args(|_, root| {
            vec!["--db".into(), format!("shop={}", root.join("data/bookshop.db").display())]
        })
        .start();
    let out = structured(&mut one, "read_query", json!({ "query": "SELECT count(*) FROM books" }));
    assert_eq!(out["rows"], json!([[200]]));
    let out = structured(&mut one, "list_tables", json!({}));
    assert_eq!(out["db"], "shop");
}

#[test]
fn describe_table_lists_columns_keys_indexes_and_foreign_keys() {
    let mut server = TestServer::builder()
        .setup_args(|_, root| {
            vec!["--db".into(), format!("shop={}", root.join("data/bookshop.db").display())]
        })
        .start();
    let d = structured(&mut server, "describe_table", json!({ "table_name": "order_items" }));
    assert_eq!(d["name"], "order_items");
    assert_eq!(d["row_count"], 7500);
    let columns: Vec<&str> =
        d["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["order_id", "book_id", "quantity", "unit_cents"]);
    assert_eq!(d["columns"][0]["primary_key"], 1);
    assert_eq!(d["columns"][1]["primary_key"], 2);
    assert_eq!(d["columns"][2]["not_null"], true);
    let fks = d["foreign_keys"].to_string();
    assert!(fks.contains("\"references_table\":\"orders\"") && fks.contains("CASCADE"), "{fks}");
    assert!(d["indexes"].to_string().contains("order_items_book"), "{}", d["indexes"]);
    // Names match case-insensitively, like SQL; views work too.
    let v = structured(&mut server, "describe_table", json!({ "table_name": "BOOK_SALES" }));
    assert_eq!(v["type"], "view");
    let plan = structured(
        &mut server,
        "explain_query",
        json!({ "query": "SELECT * FROM orders WHERE customer_id = ?1", "params": [3] }),
    );
    assert!(plan["plan"].to_string().contains("orders_customer"), "{plan}");
}

#[test]
fn describe_table_counts_rows_up_to_max_counted_rows_and_then_says_more_than() {
    // order_items has 7,500 rows: a bound of exactly 7,500 counts them, one less stops.
    for (bound, exact) in [("7500", true), ("7499", false)] {
        let mut server = shop_server(&["--max-counted-rows", bound]);
        let d = structured(
            &mut server,
            "describe_table",
            json!({ "db": "shop", "table_name": "order_items" }),
        );
        if exact {
            assert_eq!(d["row_count"], 7500, "{d}");
            assert!(d.get("row_count_more_than").is_none(), "{d}");
        } else {
            assert_eq!(d["row_count"], Value::Null, "{d}");
            assert_eq!(d["row_count_more_than"], 7499, "{d}");
        }
        let args = json!({ "db": "shop", "table_name": "order_items" });
        let described = text(&server.call_ok("describe_table", args));
        let expected = if exact { ", 7500 rows" } else { ", more than 7499 rows (" };
        assert!(described.contains(expected), "{described}");
        let schema = server.request("resources/read", json!({ "uri": "sqlite://shop/schema" }));
        let schema =
            schema["result"]["contents"][0]["text"].as_str().unwrap_or_default().to_owned();
        let expected =
            if exact { "order_items: 4 columns, 7500 rows\n" } else { "more than 7499 rows (" };
        assert!(schema.contains(expected), "{schema}");
    }
    let err = start_error(&["--max-counted-rows", "0", "."]);
    assert!(err.contains("--max-counted-rows"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Resources and completion

fn shop_server(extra: &[&str]) -> TestServer {
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    TestServer::builder()
        .setup_args(move |base, root| {
            make_db(
                &base.join("odd.db"),
                "CREATE TABLE \"order items/ü\"(x); INSERT INTO \"order items/ü\" VALUES (1);",
            );
            let mut args = vec![
                "--db".to_owned(),
                format!("shop={}", root.join("data/bookshop.db").display()),
                "--db".to_owned(),
                base.join("odd.db").display().to_string(),
            ];
            args.extend(extra);
            args
        })
        .start()
}

fn list_all_resources(server: &mut TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor.as_ref().map_or_else(|| json!({}), |c| json!({ "cursor": c }));
        let response = server.request("resources/list", params);
        let result = &response["result"];
        out.extend(
            result["resources"].as_array().unwrap_or_else(|| panic!("{response}")).iter().cloned(),
        );
        match result["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

#[test]
fn database_resources_are_listed_first_and_read_as_schema_and_tables() {
    let mut server = shop_server(&[]);
    let first = server.request("resources/list", json!({}));
    let uris: Vec<&str> = first["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        &uris[..9],
        [
            "sqlite://shop/schema",
            "sqlite://shop/table/authors",
            "sqlite://shop/table/book_sales",
            "sqlite://shop/table/books",
            "sqlite://shop/table/customers",
            "sqlite://shop/table/order_items",
            "sqlite://shop/table/orders",
            "sqlite://odd/schema",
            "sqlite://odd/table/order%20items%2F%C3%BC",
        ]
    );
    assert!(uris[9].starts_with("file://"), "files follow: {uris:?}");

    let schema = server.request("resources/read", json!({ "uri": "sqlite://shop/schema" }));
    let contents = &schema["result"]["contents"][0];
    assert_eq!(contents["mimeType"], "application/sql");
    let ddl = contents["text"].as_str().unwrap();
    assert!(ddl.contains("-- table books: 8 columns, 200 rows"), "{ddl}");
    assert!(ddl.contains("-- view book_sales"), "{ddl}");
    assert!(
        ddl.contains("CREATE TABLE order_items") && ddl.contains("CREATE INDEX books_genre"),
        "{ddl}"
    );

    let table = server.request("resources/read", json!({ "uri": "sqlite://shop/table/books" }));
    let contents = &table["result"]["contents"][0];
    assert_eq!(contents["mimeType"], "application/json");
    let body: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["row_count"], 200);
    assert_eq!(body["columns"][1]["name"], "isbn");
    assert_eq!(body["sample"]["row_count"], 5);
    assert_eq!(body["sample"]["rows"][0][2], "Pride and Prejudice");
    assert!(body["foreign_keys"].to_string().contains("authors"), "{body}");
    assert!(body["indexes"].to_string().contains("books_author"), "{body}");

    // Odd table names round-trip through the URI.
    let odd = server
        .request("resources/read", json!({ "uri": "sqlite://odd/table/order%20items%2F%C3%BC" }));
    let body: Value =
        serde_json::from_str(odd["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["name"], "order items/ü");
    assert_eq!(body["sample"]["rows"], json!([[1]]));

    // Unknown databases, tables and shapes are resource-not-found.
    for uri in [
        "sqlite://shop/table/nope",
        "sqlite://nope/schema",
        "sqlite://shop/table/books%3B%20DROP%20TABLE%20books",
        "sqlite://shop/tables",
        "sqlite://shop/../../etc/passwd",
        "sqlite://shop/table/sqlite_schema%00",
    ] {
        let response = server.request("resources/read", json!({ "uri": uri }));
        assert_eq!(response["error"]["code"], -32002, "{uri}: {response}");
    }

    let templates = server.request("resources/templates/list", json!({}));
    let templates: Vec<&str> = templates["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(templates, ["file:///{+path}", "sqlite://{db}/table/{table}"]);
}

#[test]
fn resource_pages_span_databases_then_files_without_repeats() {
    let mut whole = shop_server(&[]);
    let all: Vec<String> = list_all_resources(&mut whole)
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_owned())
        .collect();
    let mut paged = shop_server(&["--resource-page-size", "4"]);
    let pages: Vec<String> = list_all_resources(&mut paged)
        .iter()
        .map(|r| r["uri"].as_str().unwrap().replace(&paged.uri(""), &whole.uri("")))
        .collect();
    assert_eq!(pages, all, "pages of 4 give the same list, in order, once each");
    assert_eq!(all.iter().filter(|u| u.starts_with("sqlite://")).count(), 9);
    let bad = paged.request("resources/list", json!({ "cursor": "bm9wZQ" }));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn completion_offers_database_table_and_path_names() {
    let mut server = shop_server(&[]);
    let complete =
        |server: &mut TestServer, template: &str, name: &str, value: &str, context: Value| {
            let response = server.request(
                "completion/complete",
                json!({
                    "ref": { "type": "ref/resource", "uri": template },
                    "argument": { "name": name, "value": value },
                    "context": { "arguments": context }
                }),
            );
            response["result"]["completion"].clone()
        };
    let c = complete(&mut server, "sqlite://{db}/table/{table}", "db", "sh", json!({}));
    assert_eq!(c["values"], json!(["shop"]), "{c}");
    let c = complete(&mut server, "sqlite://{db}/table/{table}", "db", "", json!({}));
    assert_eq!(c["values"], json!(["odd", "shop"]), "{c}");
    let c = complete(
        &mut server,
        "sqlite://{db}/table/{table}",
        "table",
        "or",
        json!({ "db": "shop" }),
    );
    assert_eq!(c["values"], json!(["order_items", "orders"]), "{c}");
    assert_eq!(c["hasMore"], false);
    let c =
        complete(&mut server, "sqlite://{db}/table/{table}", "table", "", json!({ "db": "nope" }));
    assert_eq!(c["values"], json!([]), "{c}");
    // What follows file:/// in the root's URI: `tmp/...` on Unix, `C:/...` on Windows.
    let root = server.uri("");
    let root = root.strip_prefix("file:///").unwrap();
    let c =
        complete(&mut server, "file:///{+path}", "path", &format!("{root}/src/book"), json!({}));
    assert_eq!(c["values"], json!([format!("{root}/src/bookshop/")]), "{c}");
    let c = complete(&mut server, "file:///{+path}", "path", "etc/pass", json!({}));
    assert_eq!(c["values"], json!([]), "nothing outside the roots: {c}");
}

#[test]
fn modern_clients_read_database_resources_and_query() {
    let mut server = TestServer::builder()
        .modern()
        .setup_args(|_, root| {
            vec!["--db".into(), format!("shop={}", root.join("data/bookshop.db").display())]
        })
        .start();
    let out =
        structured(&mut server, "read_query", json!({ "query": "SELECT count(*) FROM customers" }));
    assert_eq!(out["rows"], json!([[500]]));
    let missing = server.request("resources/read", json!({ "uri": "sqlite://shop/table/nope" }));
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let schema = server.request("resources/read", json!({ "uri": "sqlite://shop/schema" }));
    assert!(
        schema["result"]["contents"][0]["text"].as_str().unwrap().contains("CREATE TABLE authors")
    );
}

// ---------------------------------------------------------------------------------------------
// Start-up

#[test]
fn bad_databases_fail_at_start_with_a_clear_message_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| -> PathBuf { dir.path().join(name) };
    let missing = d("missing.db");
    let err = start_error(&["--db".into(), missing.display().to_string()]);
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("does not exist"),
        "{err}"
    );
    let err = start_error(&["--db-rw".into(), missing.display().to_string()]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists(), "a missing database is never created");

    let err = start_error(&["--db".into(), dir.path().display().to_string()]);
    assert!(err.contains("not a file") || err.contains("directory"), "{err}");

    std::fs::write(d("notes.db"), "these are not the pages you are looking for\n".repeat(100))
        .unwrap();
    let err = start_error(&["--db".into(), d("notes.db").display().to_string()]);
    assert!(err.contains("not a SQLite database"), "{err}");

    make_db(&d("a.db"), T_SQL);
    make_db(&d("b.db"), T_SQL);
    let err = start_error(&[
        "--db".into(),
        format!("x={}", d("a.db").display()),
        "--db-rw".into(),
        format!("x={}", d("b.db").display()),
    ]);
    assert!(err.contains("\"x\"") && err.contains("NAME=PATH"), "{err}");
    let err = start_error(&["--db".into(), format!("bad name={}", d("a.db").display())]);
    assert!(err.contains("bad name"), "{err}");
    let err = start_error(&[
        "--db".into(),
        d("a.db").display().to_string(),
        "--query-timeout".into(),
        "0s".into(),
    ]);
    assert!(err.contains("query-timeout"), "{err}");
    let err = start_error(&[
        "--db".into(),
        d("a.db").display().to_string(),
        "--max-rows".into(),
        "0".into(),
    ]);
    assert!(err.contains("max-rows"), "{err}");
}

#[test]
fn the_sample_database_holds_exactly_what_its_sql_builds() {
    let data = sample_data().join("data");
    let built = Connection::open_in_memory().unwrap();
    built.execute_batch(&std::fs::read_to_string(data.join("bookshop.sql")).unwrap()).unwrap();
    let committed = Connection::open_with_flags(
        data.join("bookshop.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let dump = |conn: &Connection| -> Vec<String> {
        let mut out = Vec::new();
        let objects: Vec<(String, String)> = conn
            .prepare("SELECT name, coalesce(sql, '') FROM sqlite_schema ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (name, sql) in &objects {
            out.push(sql.clone());
            if !sql.starts_with("CREATE TABLE") {
                continue;
            }
            let mut stmt =
                conn.prepare(&format!("SELECT * FROM \"{name}\" ORDER BY 1, 2")).unwrap();
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let cells: Vec<String> =
                    (0..n).map(|i| format!("{:?}", row.get_ref(i).unwrap())).collect();
                out.push(cells.join("|"));
            }
        }
        out
    };
    let (built, committed) = (dump(&built), dump(&committed));
    assert!(committed.len() > 11_000, "a few thousand rows: {}", committed.len());
    assert!(
        built == committed,
        "bookshop.db is stale: rebuild it from bookshop.sql (see its header)"
    );
}

#[test]
fn value_and_page_size_limits_hold_at_their_edges() {
    let mut server = two_db_server(&["--max-value-bytes", "1000", "--max-result-bytes", "10KiB"]);
    let ok = structured(
        &mut server,
        "read_query",
        json!({ "db": "ro", "query": "SELECT length(zeroblob(1000))" }),
    );
    assert_eq!(ok["rows"], json!([[1000]]));
    let err = server
        .call_err("read_query", json!({ "db": "ro", "query": "SELECT length(zeroblob(1001))" }));
    assert!(err.contains("too big"), "{err}");
    let err = server.call_err(
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO t(name) VALUES (printf('%.2000c', 'x'))" }),
    );
    assert!(err.contains("too big"), "{err}");

    // Pages stop at about --max-result-bytes of JSON, and the cursor carries on from there.
    let query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 50) \
                 SELECT x, printf('%.900c', 'p') FROM c";
    let mut seen = Vec::new();
    let mut cursor: Option<Value> = None;
    loop {
        let mut args = json!({ "db": "ro", "query": query });
        if let Some(c) = &cursor {
            args["cursor"] = c.clone();
        }
        let page = structured(&mut server, "read_query", args);
        let rows = page["rows"].as_array().unwrap();
        assert!(
            !rows.is_empty() && rows.len() <= 11,
            "{} rows of ~1KB in a 10KiB page",
            rows.len()
        );
        seen.extend(rows.iter().map(|r| r[0].as_i64().unwrap()));
        if page["next_cursor"].is_null() {
            break;
        }
        cursor = Some(page["next_cursor"].clone());
    }
    assert_eq!(seen, (1..=50).collect::<Vec<i64>>());
}

#[test]
fn a_query_that_needs_too_much_memory_fails_cleanly_and_the_server_lives() {
    let mut server = two_db_server(&[]);
    // Six 60 MB strings: each is under --max-value-bytes (64 MiB), together far over SQLite's
    // heap limit.
    let column = "printf('%.*c', 60000000, 'x')";
    let query = format!("SELECT {}", [column; 6].join(", "));
    let err = server.call_err("read_query", json!({ "db": "ro", "query": query }));
    assert!(err.contains("more memory than the server allows"), "{err}");
    let ok = structured(
        &mut server,
        "read_query",
        json!({ "db": "ro", "query": "SELECT count(*) FROM t" }),
    );
    assert_eq!(ok["rows"], json!([[3]]));
    assert!(server.is_running());
}

#[test]
fn a_write_that_times_out_says_so_and_changes_nothing() {
    let mut server = two_db_server(&["--query-timeout", "300ms"]);
    let runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                   INSERT INTO t(name) SELECT 'n' || x FROM c";
    let err = server.call_err("write_query", json!({ "db": "rw", "query": runaway }));
    assert!(err.contains("timeout") && !err.contains("savepoint"), "{err}");
    let count = structured(
        &mut server,
        "read_query",
        json!({ "db": "rw", "query": "SELECT count(*) FROM t" }),
    );
    assert_eq!(count["rows"], json!([[3]]));
    // The connection is usable for the next write.
    server.call_ok(
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO t(name) VALUES ('after')" }),
    );
}

#[test]
fn statements_that_change_no_rows_report_zero() {
    let mut server = two_db_server(&[]);
    let insert = server.call_ok(
        "write_query",
        json!({ "db": "rw", "query": "INSERT INTO t(name) VALUES ('x'), ('y')" }),
    );
    assert!(text(&insert).contains("2 rows changed"), "{}", text(&insert));
    let index = server
        .call_ok("write_query", json!({ "db": "rw", "query": "CREATE INDEX t_name ON t(name)" }));
    assert!(text(&index).contains("0 rows changed"), "{}", text(&index));
    let table = server.call_ok("create_table", json!({ "db": "rw", "query": "CREATE TABLE u(a)" }));
    assert!(text(&table).contains("0 rows changed"), "{}", text(&table));
}
