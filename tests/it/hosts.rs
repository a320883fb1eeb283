//! `mcp-files-sqlite config --host ...` against the real binary: the entry each host gets, that it
//! starts a working server exactly as the host would run it, and `--write` merging into a file
//! that already has other servers and settings, refusing a malformed file or a taken name.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support::{BIN, Launch};

fn config(cwd: &Path, args: &[&str]) -> Output {
    Command::new(&*BIN).arg("config").args(args).current_dir(cwd).run()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A project directory holding `src/` and `shop.db`.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("shop.db")).unwrap();
    conn.execute_batch("CREATE TABLE books(title); INSERT INTO books VALUES ('Dune');").unwrap();
    dir
}

fn canonical(path: &Path) -> String {
    crate::support::canonical(path).display().to_string()
}

/// Starts `command args` as a host would, and asks it for its directories and a query.
fn run_entry(entry: &Value) -> (Value, Value) {
    let args: Vec<&str> =
        entry["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut child = Command::new(entry["command"].as_str().unwrap())
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .launch();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |message: Value| writeln!(stdin, "{message}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}}}),
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_allowed_directories", "arguments": {}}}),
    );
    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "read_query", "arguments": {"db": "shop", "query": "SELECT title FROM books"}}}),
    );
    let mut answers = std::collections::HashMap::new();
    while answers.len() < 3 {
        let line = lines.next().expect("the server answers").unwrap();
        let message: Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = message["id"].as_u64() {
            answers.insert(id, message);
        }
    }
    drop(stdin);
    child.wait().unwrap();
    (answers[&2]["result"].clone(), answers[&3]["result"].clone())
}

#[test]
fn each_host_gets_an_entry_that_starts_this_server_on_absolute_checked_paths() {
    let dir = project();
    let root = canonical(&dir.path().join("src"));
    let db = canonical(&dir.path().join("shop.db"));
    for (host, key, file) in [
        ("claude-desktop", "mcpServers", "claude_desktop_config.json"),
        ("claude-code", "mcpServers", ".mcp.json"),
        ("vscode", "servers", "mcp.json"),
        ("cursor", "mcpServers", "mcp.json"),
    ] {
        // Relative paths, as a user types them in the project.
        let out = config(dir.path(), &["--host", host, "src", "--db", "shop.db"]);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entry = &printed[key]["files"];
        assert_eq!(entry["command"], canonical(&BIN), "{host}: {printed}");
        assert_eq!(entry["args"], json!(["--root", root, "--db", format!("shop={db}")]), "{host}");
        assert_eq!(
            entry.get("type").is_some(),
            host == "claude-code" || host == "vscode",
            "{host}"
        );
        assert!(stderr(&out).contains(file), "{host} says where: {}", stderr(&out));
    }
    // The entry works as the host runs it: from anywhere, with no shell.
    let out = config(dir.path(), &["--host", "claude-desktop", "src", "--db", "shop.db"]);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (dirs, rows) = run_entry(&printed["mcpServers"]["files"]);
    assert_eq!(dirs["structuredContent"]["directories"][0]["path"], root, "{dirs}");
    assert!(rows.to_string().contains("Dune"), "{rows}");
}

#[test]
fn an_entry_that_would_not_start_is_refused_here() {
    let dir = project();
    let out = config(dir.path(), &["--host", "cursor", "no-such-dir"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-dir"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = config(dir.path(), &["--host", "cursor", "src", "--db", "missing.db", "--write"]);
    assert!(!out.status.success());
    assert!(!dir.path().join(".cursor").exists(), "nothing written");
    let out = config(dir.path(), &["--host", "claude-desktop", "--scope", "project", "src"]);
    assert!(!out.status.success() && stderr(&out).contains("--scope user"), "{}", stderr(&out));
    let out = config(dir.path(), &["--host", "cursor", "--name", "my files", "src"]);
    assert!(!out.status.success() && stderr(&out).contains("--name"), "{}", stderr(&out));
}

#[test]
fn write_merges_into_the_file_keeping_everything_else_and_a_backup() {
    let dir = project();
    let file = dir.path().join("claude_desktop_config.json");
    let before = "{\n  \"preferences\": {\"theme\": \"dark\"},\n  \"mcpServers\": {\n    \"other\": {\"command\": \"other-server\", \"args\": []}\n  }\n}\n";
    std::fs::write(&file, before).unwrap();
    let file_arg = file.display().to_string();
    let write = |extra: &[&str]| {
        let mut args =
            vec!["--host", "claude-desktop", "--file", file_arg.as_str(), "--write", "src"];
        args.extend_from_slice(extra);
        config(dir.path(), &args)
    };
    let out = write(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(after["preferences"], json!({"theme": "dark"}));
    assert_eq!(after["mcpServers"]["other"], json!({"command": "other-server", "args": []}));
    assert_eq!(
        after["mcpServers"]["files"]["args"],
        json!(["--root", canonical(&dir.path().join("src"))])
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("claude_desktop_config.json.bak")).unwrap(),
        before
    );
    // The same again changes nothing; another name is added beside it.
    let same = std::fs::read_to_string(&file).unwrap();
    let out = write(&[]);
    assert!(out.status.success() && stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), same);
    assert!(write(&["--name", "files-2"]).status.success());
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(after["mcpServers"].as_object().unwrap().len(), 3);
    // A taken name with other arguments is refused and nothing changes, unless forced.
    let before_taken = std::fs::read_to_string(&file).unwrap();
    let out = write(&["--read-only"]);
    assert!(!out.status.success(), "refused");
    assert!(
        stderr(&out).contains("--name") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before_taken);
    assert!(write(&["--read-only", "--force"]).status.success());
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let args = after["mcpServers"]["files"]["args"].to_string();
    assert!(args.contains("--ro-root") && args.contains("--read-only"), "{args}");
    assert!(
        dir.path().join("claude_desktop_config.json.bak.1").exists(),
        "earlier backups are kept"
    );
}

#[test]
fn write_refuses_a_malformed_file_naming_its_line_and_column() {
    let dir = project();
    let file = dir.path().join("mcp.json");
    let broken = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"},\n  }\n}\n";
    std::fs::write(&file, broken).unwrap();
    let file_arg = file.display().to_string();
    let out = config(dir.path(), &["--host", "cursor", "--file", &file_arg, "--write", "src"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("mcp.json is not valid JSON at line 3, column 26"), "{err}");
    assert!(err.contains("Nothing was written"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
    assert!(!dir.path().join("mcp.json.bak").exists());
    // VS Code's own files may have comments and trailing commas; they stay.
    let vscode = "{\n  // mine\n  \"servers\": {\n    \"a\": {\"command\": \"x\"},\n  },\n}\n";
    std::fs::write(&file, vscode).unwrap();
    let out = config(dir.path(), &["--host", "vscode", "--file", &file_arg, "--write", "src"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("// mine") && text.contains("\"files\""), "{text}");
    // A byte order mark (Windows editors write one) is read past and kept.
    std::fs::write(&file, "\u{feff}{\"mcpServers\": {}}\n").unwrap();
    let out = config(dir.path(), &["--host", "cursor", "--file", &file_arg, "--write", "src"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let rest = text.strip_prefix('\u{feff}').expect("the mark is kept");
    let written: Value = serde_json::from_str(rest).unwrap();
    assert!(written["mcpServers"]["files"].is_object(), "{text}");
}

#[test]
fn write_goes_to_the_projects_file_by_default() {
    let dir = project();
    for (host, file, key) in [
        ("claude-code", ".mcp.json", "mcpServers"),
        ("vscode", ".vscode/mcp.json", "servers"),
        ("cursor", ".cursor/mcp.json", "mcpServers"),
    ] {
        let out = config(dir.path(), &["--host", host, "--write", "src"]);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(file)).unwrap()).unwrap();
        assert!(written[key]["files"]["command"].is_string(), "{host}: {written}");
    }
}

#[test]
fn write_refuses_what_the_host_would_misread_and_changes_nothing() {
    let dir = project();
    let home = tempfile::tempdir().unwrap();
    let with_home = |args: &[&str]| {
        Command::new(&*BIN)
            .arg("config")
            .args(args)
            .current_dir(dir.path())
            .env("HOME", home.path())
            .env("USERPROFILE", home.path())
            .run()
    };
    // Claude Code's user file is its own running state: the command to add it is printed instead.
    let out = with_home(&["--host", "claude-code", "--scope", "user", "--write", "src"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let quoted = err
        .split_once("claude mcp add-json --scope user files '")
        .and_then(|(_, rest)| rest.trim_end().strip_suffix('\''))
        .unwrap_or_else(|| panic!("{err}"));
    let entry: Value = serde_json::from_str(&quoted.replace("'\\''", "'")).unwrap();
    assert_eq!(entry["args"], json!(["--root", canonical(&dir.path().join("src"))]), "{entry}");
    assert!(!home.path().join(".claude.json").exists(), "Claude Code's file was touched");

    // A path with "${" would be expanded by Claude Code as a variable.
    std::fs::create_dir(dir.path().join("a${HOME}b")).unwrap();
    let out = with_home(&["--host", "claude-code", "--write", "a${HOME}b"]);
    assert!(!out.status.success() && stderr(&out).contains("${"), "{}", stderr(&out));
    assert!(!dir.path().join(".mcp.json").exists());

    // A file that is not UTF-8 is refused, not rewritten.
    let garbage = [0xff, 0xfe, b'{', 0x80, b'}'];
    std::fs::write(dir.path().join(".mcp.json"), garbage).unwrap();
    let out = with_home(&["--host", "claude-code", "--write", "src"]);
    assert!(!out.status.success() && stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join(".mcp.json")).unwrap(), garbage);
    assert!(!dir.path().join(".mcp.json.bak").exists(), "no backup of a file not written");
}
