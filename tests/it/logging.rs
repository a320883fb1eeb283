//! Logging to the host: the `logging` capability, `logging/setLevel` (legacy), the per-request
//! `_meta` log level (2026-07-28), warnings sent as `notifications/message` before the answer of
//! the request that caused them (query and walk timeouts, a replaced database), background ones
//! (client roots ignored), the rate limit at its edge, and stderr unchanged.

use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::{TestServer, modern_meta};

const LOG: &str = "notifications/message";
const SLOW: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

/// A server over the sample tree and a database `slow` whose queries stop after 200 ms.
fn slow_db_server(modern: bool, extra: &[&str]) -> TestServer {
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    let builder = TestServer::builder().args(["--query-timeout", "200ms"]).args(extra).setup_args(
        |base, _| {
            let path = base.join("slow.db");
            Connection::open(&path).unwrap().execute_batch("CREATE TABLE t(x);").unwrap();
            vec!["--db".into(), format!("slow={}", path.display())]
        },
    );
    if modern { builder.modern().start() } else { builder.start() }
}

/// Runs the slow query (it times out) with `meta` as its request `_meta` (merged over the
/// harness's own); returns the log messages that came before its answer.
fn time_out(server: &mut TestServer, meta: Option<Value>) -> Vec<Value> {
    server.take_notifications(LOG);
    let mut params = json!({ "name": "read_query", "arguments": { "query": SLOW } });
    if let Some(meta) = meta {
        params["_meta"] = meta;
    }
    let response = server.request("tools/call", params);
    assert_eq!(response["result"]["isError"], true, "{response}");
    assert!(crate::support::text(&response["result"]).contains("query-timeout"), "{response}");
    server.take_notifications(LOG)
}

fn message(log: &Value) -> &str {
    log["params"]["data"]["message"].as_str().unwrap_or_default()
}

fn with_log_level(level: &str) -> Value {
    let mut meta = modern_meta();
    meta["io.modelcontextprotocol/logLevel"] = json!(level);
    meta
}

#[test]
fn legacy_hosts_get_warnings_before_the_answer_at_the_level_they_set() {
    let mut server = slow_db_server(false, &[]);
    assert!(server.initialize_result["capabilities"]["logging"].is_object());
    // Before any setLevel: warnings and errors.
    let logs = time_out(&mut server, None);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["params"]["level"], "warning");
    assert_eq!(logs[0]["params"]["logger"], "mcp-files-sqlite");
    assert!(message(&logs[0]).contains("--query-timeout"), "{logs:?}");
    // setLevel error: warnings are no longer sent.
    let set = server.request("logging/setLevel", json!({ "level": "error" }));
    assert_eq!(set["result"], json!({}), "{set}");
    assert!(time_out(&mut server, None).is_empty());
    server.request("logging/setLevel", json!({ "level": "debug" }));
    assert_eq!(time_out(&mut server, None).len(), 1);
    let bad = server.request("logging/setLevel", json!({ "level": "loud" }));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    // stderr has them all, as before.
    server.wait_stderr("ran into --query-timeout", Duration::from_secs(30));
}

#[test]
fn modern_requests_get_the_warnings_they_ask_for_and_no_others() {
    let mut server = slow_db_server(true, &[]);
    let logs = time_out(&mut server, Some(with_log_level("warning")));
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(message(&logs[0]).contains("--query-timeout"));
    assert!(time_out(&mut server, None).is_empty(), "no logLevel, no log messages");
    assert!(time_out(&mut server, Some(with_log_level("error"))).is_empty());
    assert_eq!(time_out(&mut server, Some(with_log_level("debug"))).len(), 1);
}

#[test]
fn the_rate_limit_holds_at_its_edge() {
    for modern in [false, true] {
        let mut server = slow_db_server(modern, &["--max-log-messages", "2"]);
        let meta = modern.then(|| with_log_level("warning"));
        assert_eq!(time_out(&mut server, meta.clone()).len(), 1);
        assert_eq!(time_out(&mut server, meta.clone()).len(), 1);
        assert!(time_out(&mut server, meta.clone()).is_empty(), "the third in a minute is held");
        // stderr has all three (read on a thread of its own: waited for).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while server.stderr().matches("ran into --query-timeout").count() < 3 {
            assert!(std::time::Instant::now() < deadline, "{}", server.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // 0: none at all, and no count of them either.
    for modern in [false, true] {
        let mut server = slow_db_server(modern, &["--max-log-messages", "0"]);
        let meta = modern.then(|| with_log_level("warning"));
        assert!(time_out(&mut server, meta.clone()).is_empty());
        assert!(time_out(&mut server, meta).is_empty());
    }
}

#[test]
fn a_walk_that_times_out_is_said() {
    let mut server = slow_db_server(false, &["--tool-timeout", "1ms"]);
    let mut found = Vec::new();
    // A walk of the sample tree may finish inside 1 ms; a few tries make one time out.
    for _ in 0..50 {
        server.take_notifications(LOG);
        let result =
            server.call_tool("grep_files", json!({ "path": server.path(""), "pattern": "x" }));
        found = server.take_notifications(LOG);
        if crate::support::text(&result).contains("stopped early") {
            break;
        }
    }
    assert!(found.iter().any(|l| message(l).contains("--tool-timeout")), "{found:?}");
}

// Windows refuses to replace a file SQLite holds open: nothing can swap a served database there.
#[cfg(unix)]
#[test]
fn a_replaced_database_is_said_before_the_answer_of_the_query_that_reopened_it() {
    let mut server = slow_db_server(false, &[]);
    let path = server.base.path().join("slow.db");
    let other = server.base.path().join("other.db");
    Connection::open(&other).unwrap().execute_batch("CREATE TABLE u(y);").unwrap();
    std::fs::rename(&other, &path).unwrap();
    server.take_notifications(LOG);
    server.call_ok("read_query", json!({ "query": "SELECT count(*) FROM u" }));
    let logs = server.take_notifications(LOG);
    assert!(logs.iter().any(|l| message(l).contains("replaced on disk")), "{logs:?}");
}

#[test]
fn client_roots_that_are_ignored_are_said_without_a_request() {
    let mut server = TestServer::builder()
        .client_roots(|_, _| vec!["https://example.com/project".to_owned()])
        .start();
    let log = server.expect_notification_where(LOG, Duration::from_secs(30), |m| {
        message(m).contains("ignored")
    });
    assert_eq!(log["params"]["level"], "warning", "{log}");
}
