//! Long calls: progress notifications for clients that ask with a progress token, and
//! cancellation that stops the work (walks and queries), through the real binary.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Launch, TestServer};

const WAIT: Duration = Duration::from_secs(30);

fn progress_for(server: &mut TestServer, token: &str) -> Value {
    let token = json!(token);
    server.expect_notification_where("notifications/progress", WAIT, move |n| {
        n["params"]["progressToken"] == token
    })
}

/// User and system CPU time the process has used (Linux).
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[test]
fn a_long_query_reports_progress_and_stops_when_cancelled() {
    let mut server = TestServer::builder()
        .empty()
        .args(["--progress-after", "50ms", "--query-timeout", "120s"])
        .setup_args(|base, _| {
            let conn = rusqlite::Connection::open(base.join("p.db")).unwrap();
            conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
            vec!["--db".to_owned(), format!("p={}", base.join("p.db").display())]
        })
        .start();
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let id = server.send_request(
        "tools/call",
        json!({ "name": "read_query", "arguments": { "query": endless }, "_meta": { "progressToken": "q1" } }),
    );
    let first = progress_for(&mut server, "q1");
    assert!(first["params"]["message"].as_str().unwrap().contains("query running"), "{first}");
    let second = progress_for(&mut server, "q1");
    assert!(
        second["params"]["progress"].as_f64() > first["params"]["progress"].as_f64(),
        "progress grows: {first} then {second}"
    );
    server.notify("notifications/cancelled", json!({ "requestId": id, "reason": "test" }));
    // The same database (one worker thread) answers the next query only once the first one has
    // stopped: without the cancel it would run until its 120 s timeout, and this wait (far
    // longer than the cancelled query needs, far shorter than the timeout) would fail.
    let result = server.call_tool_timeout(
        "read_query",
        json!({ "query": "SELECT x FROM t" }),
        Duration::from_secs(60),
    );
    assert_eq!(result["isError"], json!(false), "{result}");
    // A cancelled request gets no answer of its own.
    assert!(!server.has_response(id), "the cancelled query was answered");
}

#[test]
fn calls_without_a_progress_token_get_no_progress_notifications() {
    // A query that runs until its 1 s timeout, well past --progress-after: with a token it reports
    // progress (checked first, so the test cannot pass because the call was too quick), without
    // one it must not.
    let mut server = TestServer::builder()
        .empty()
        .args(["--progress-after", "10ms", "--query-timeout", "1s"])
        .setup_args(|base, _| {
            let conn = rusqlite::Connection::open(base.join("p.db")).unwrap();
            conn.execute_batch("CREATE TABLE t(x);").unwrap();
            vec!["--db".to_owned(), format!("p={}", base.join("p.db").display())]
        })
        .start();
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let with_token = server.send_request(
        "tools/call",
        json!({ "name": "read_query", "arguments": { "query": endless }, "_meta": { "progressToken": "t1" } }),
    );
    server.wait_response(with_token, WAIT);
    assert!(
        !server.take_notifications("notifications/progress").is_empty(),
        "a call with a token that runs past --progress-after reports progress"
    );
    let result = server.call_tool("read_query", json!({ "query": endless }));
    assert!(crate::support::text(&result).contains("query-timeout"), "{result}");
    assert!(
        server.take_notifications("notifications/progress").is_empty(),
        "progress without a token"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_long_walk_reports_progress_and_stops_when_cancelled() {
    let mut server =
        TestServer::builder().empty().args(["--progress-after", "20ms"]).start_with(|_, root| {
            let text =
                "let total = items.iter().map(|item| item.price * item.qty).sum();\n".repeat(30);
            for d in 0..40 {
                let dir = root.join(format!("d{d:02}"));
                std::fs::create_dir(&dir).unwrap();
                for f in 0..500 {
                    std::fs::write(dir.join(format!("f{f:03}.rs")), &text).unwrap();
                }
            }
        });
    let root = server.path("");
    // A pattern that matches nothing, so the walk has to read every file.
    let args = json!({ "path": root, "pattern": "(?i)price\\s*\\*\\s*item\\.(weight|volume)\\d+" });
    let id = server.send_request(
        "tools/call",
        json!({ "name": "grep_files", "arguments": args, "_meta": { "progressToken": "w1" } }),
    );
    let first = progress_for(&mut server, "w1");
    assert!(first["params"]["message"].as_str().unwrap().contains("entries examined"), "{first}");
    assert!(!server.has_response(id), "the walk should still be running");
    server.notify("notifications/cancelled", json!({ "requestId": id, "reason": "test" }));
    server.request("ping", json!({}));
    // Once the walk has stopped, the idle server uses (almost) no CPU; a walk that went on would
    // keep a core busy. Measured over a second, after giving the cancellation a moment.
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(pid) - before;
    assert!(used < Duration::from_millis(250), "the server used {used:?} of CPU after the cancel");
}

#[test]
fn progress_after_holds_at_its_edges() {
    let dir = tempfile::tempdir().unwrap();
    for (value, ok) in [("10ms", true), ("9ms", false), ("0", false), ("60m", true)] {
        let output = std::process::Command::new(&*crate::support::BIN)
            .arg(dir.path())
            .args(["--progress-after", value])
            .stdin(std::process::Stdio::null())
            .run();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), ok, "--progress-after {value}: {stderr}");
        if !ok {
            assert!(
                stderr.contains("--progress-after") || stderr.contains("greater than zero"),
                "{stderr}"
            );
        }
    }
}
