//! The command line and the config file as a new user meets them: every mistake is refused at
//! start with a message that blames the right thing and shows the right flag, and the shipped
//! example config starts a working server.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::{BIN, Launch, TestServer, sample_data, start_error};

fn make_db(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
}

#[test]
fn an_invalid_database_name_is_blamed_on_the_name_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("shop.db"));
    let spec = format!("my.shop={}", dir.path().join("shop.db").display());
    let err = start_error(&["--db", spec.as_str()]);
    assert!(err.contains("database name \"my.shop\""), "{err}");
    assert!(err.contains("letters, digits"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");
    assert!(err.contains("--db my_shop="), "suggests a valid name: {err}");
    // A path that really contains '=' is still a path.
    let odd_dir = dir.path().join("x=y");
    std::fs::create_dir(&odd_dir).unwrap();
    make_db(&odd_dir.join("odd.db"));
    let mut server = TestServer::builder()
        .empty()
        .no_root_arg()
        .args(["--db".to_owned(), odd_dir.join("odd.db").display().to_string()])
        .start();
    let listed = server.call_ok("list_databases", json!({}));
    assert!(listed["structuredContent"].to_string().contains("x=y"), "{listed}");
}

#[test]
fn an_unknown_log_level_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let err = start_error(&[root.as_str(), "--log-level", "loud"]);
    assert!(err.contains("loud") && err.contains("--log-level"), "{err}");
    for level in ["off", "error", "warn", "info", "debug", "trace"] {
        let status = Command::new(&*BIN)
            .args([root.as_str(), "--log-level", level])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .run()
            .status;
        assert!(status.success(), "--log-level {level}");
    }
}

#[test]
fn sizes_take_bytes_units_and_fractions_and_blame_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    // A fraction with a unit is a size (rounded down to bytes): the server starts.
    let mut server = TestServer::builder()
        .args(["--max-read-bytes", "1.5KiB"])
        .start_with(|_, root| std::fs::write(root.join("big.txt"), "x".repeat(1600)).unwrap());
    let err = server.call_err("read_text_file", json!({ "path": "big.txt" }));
    assert!(err.contains("1536-byte limit"), "{err}");
    drop(server);
    // A plain number is bytes.
    let mut server = TestServer::builder()
        .args(["--max-read-bytes", "1600"])
        .start_with(|_, root| std::fs::write(root.join("big.txt"), "x".repeat(1600)).unwrap());
    server.call_ok("read_text_file", json!({ "path": "big.txt" }));
    drop(server);
    let err = start_error(&[root.as_str(), "--max-read-bytes", "1.5"]);
    assert!(err.contains("fraction"), "blames the fraction: {err}");
    let err = start_error(&[root.as_str(), "--max-read-bytes", "12parsecs"]);
    assert!(err.contains("unit \"parsecs\""), "blames the unit: {err}");
}

#[test]
fn a_database_error_suggests_the_flag_that_was_used() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a database\n".repeat(200)).unwrap();
    let err = start_error(&["--db-rw".to_owned(), notes.display().to_string()]);
    assert!(err.contains("--db-rw shop="), "{err}");
    assert!(!err.contains("--db shop="), "{err}");
    let err = start_error(&["--db".to_owned(), notes.display().to_string()]);
    assert!(err.contains("--db shop="), "{err}");
}

#[test]
fn config_files_take_numeric_durations_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("project")).unwrap();
    make_db(&dir.path().join("p.db"));
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "roots = [\"project\"]\ndb = [\"p.db\"]\nquery_timeout = 2.5\ndebounce = 0.05\n\
         poll_interval = 1\nprogress_after = \"250ms\"\nmax_read_bytes = 4096\n",
    )
    .unwrap();
    let mut server = TestServer::builder()
        .empty()
        .no_root_arg()
        .args(["--config", config.to_str().unwrap()])
        .start();
    server.call_ok("read_query", json!({ "query": "SELECT x FROM t" }));
    drop(server);
    std::fs::write(&config, "roots = [\"project\"]\nquery_timeout = 0\n").unwrap();
    let err = start_error(&["--config", config.to_str().unwrap()]);
    assert!(err.contains("query_timeout"), "{err}");
    std::fs::write(&config, "roots = [\"project\"]\ndebounce = \"soon\"\n").unwrap();
    let err = start_error(&["--config", config.to_str().unwrap()]);
    assert!(err.contains("debounce") && err.contains("soon"), "{err}");
}

#[test]
fn the_shipped_example_config_starts_a_working_server() {
    let config = crate::support::repo_path("examples/config.toml");
    let mut server = TestServer::builder()
        .empty()
        .no_root_arg()
        .args(["--config", config.to_str().unwrap()])
        .start();
    // It serves sample-data read-only, with the shop database.
    let allowed = server.call_ok("list_allowed_directories", json!({}));
    let shown = allowed["structuredContent"].to_string();
    assert!(shown.contains("sample-data"), "{allowed}");
    let names = server.tool_names();
    assert!(!names.iter().any(|n| n == "write_file"), "the example is read-only: {names:?}");
    let rows = server.call_ok("read_query", json!({ "query": "SELECT count(*) FROM books" }));
    assert!(rows["structuredContent"]["rows"][0][0].as_i64().unwrap() > 0, "{rows}");
    assert!(sample_data().join("data/bookshop.db").exists());
}

#[test]
fn the_config_help_names_the_real_keys() {
    let help = Command::new(&*BIN).arg("--help").run();
    let help = String::from_utf8_lossy(&help.stdout);
    for key in ["roots", "ro_roots", "db_rw", "read_only", "query_timeout", "examples/config.toml"]
    {
        assert!(help.contains(key), "--help does not mention {key}:\n{help}");
    }
    assert!(help.contains("plain number of bytes"), "{help}");
}

#[test]
fn resource_page_size_holds_at_its_edges() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let err = start_error(&[root.as_str(), "--resource-page-size", "10001"]);
    assert!(err.contains("--resource-page-size") && err.contains("10000"), "{err}");
    let err = start_error(&[root.as_str(), "--resource-page-size", "0"]);
    assert!(err.contains("--resource-page-size"), "{err}");
    let mut server = TestServer::builder().args(["--resource-page-size", "10000"]).start();
    let page = server.request("resources/list", json!({}));
    assert!(page["result"]["resources"].as_array().is_some_and(|r| !r.is_empty()), "{page}");
}

#[test]
fn the_hostile_input_limits_hold_at_their_edges() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    for (flag, bad) in [
        ("--max-unsent-bytes", "0"),
        ("--max-blocking-calls", "0"),
        ("--tool-timeout", "0"),
        ("--max-regex-bytes", "0"),
        ("--max-message-bytes", "4095"),
    ] {
        let err = start_error(&[root.as_str(), flag, bad]);
        assert!(err.contains(flag) || err.contains("greater than zero"), "{flag} {bad}: {err}");
    }
    // The smallest values that are allowed still serve every call.
    let mut server = TestServer::builder()
        .args([
            "--max-unsent-bytes",
            "1",
            "--max-blocking-calls",
            "1",
            "--tool-timeout",
            "60s",
            "--max-regex-bytes",
            "64KiB",
            "--max-message-bytes",
            "4096",
        ])
        .start();
    let ids: Vec<u64> = (0..8)
        .map(|_| {
            server.send_request(
                "tools/call",
                json!({ "name": "grep_files", "arguments": { "path": ".", "pattern": "book" } }),
            )
        })
        .collect();
    for id in ids {
        let answer = server.wait_response(id, std::time::Duration::from_secs(60));
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    }
    let err =
        server.call_err("grep_files", json!({ "path": ".", "pattern": "\\w{1,100}\\w{1,100}" }));
    assert!(err.contains("--max-regex-bytes"), "{err}");
}
