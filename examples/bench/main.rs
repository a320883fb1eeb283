//! The benchmark suite: drives the release binary over stdio the way a host does (JSON-RPC
//! lines; one request in flight, then 16), next to the tools a user would otherwise reach for
//! (`fd`, `rg`, the `sqlite3` shell), interleaved run by run so machine noise hits both sides, and
//! writes `BENCHMARKS.md`. Run it with `bash bench/run.sh`, which installs the comparison tools and
//! builds this driver and the server in release mode; `--smoke` runs every scenario once on tiny
//! workloads, as the test suite does, and is not a measurement.
//!
//! Usage: bench [--smoke] [--server PATH] [--out FILE] [--work DIR]

mod client;
mod million;
mod peers;
mod workload;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use client::{Client, cpu_time, memory_kib};

/// Sizes and repetitions.
struct Plan {
    smoke: bool,
    tree_files: usize,
    tree_dirs: usize,
    big_file_bytes: u64,
    db_rows: usize,
    /// Runs of each heavy scenario (and of its comparison, interleaved).
    runs: usize,
    /// Calls timed for each light scenario.
    calls: usize,
    /// Changes timed for the notification latency.
    changes: usize,
    /// How long the idle server is watched.
    idle: Duration,
    /// Files and directories of the 1,000,000-file tree.
    million_files: usize,
    million_dirs: usize,
}

/// One line of the report.
struct Row {
    scenario: String,
    result: String,
    comparison: String,
    budget: String,
    verdict: String,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    memory: Vec<(String, u64, u64)>,
    notes: Vec<String>,
}

impl Report {
    fn row(
        &mut self,
        scenario: &str,
        result: String,
        comparison: String,
        budget: &str,
        ok: Option<bool>,
    ) {
        let verdict = match ok {
            Some(true) => "ok",
            Some(false) => "**over budget**",
            None => "",
        };
        eprintln!("{scenario:48} {result}  {comparison}  {verdict}");
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            result,
            comparison,
            budget: budget.to_owned(),
            verdict: verdict.to_owned(),
        });
    }

    /// Idle and peak memory of the server that ran a group of scenarios.
    /// A row for idle memory samples (KiB): their median, min and max against `budget_mib`.
    fn idle_rss(&mut self, scenario: &str, mut kib: Vec<u64>, budget_mib: u64) {
        kib.sort_unstable();
        let median = kib[kib.len() / 2];
        let mib = |k: u64| k as f64 / 1024.0;
        self.row(
            scenario,
            format!(
                "{:.1} MiB (min {:.1}, max {:.1})",
                mib(median),
                mib(kib[0]),
                mib(kib[kib.len() - 1])
            ),
            String::new(),
            &format!("≤ {budget_mib} MiB"),
            Some(median <= budget_mib * 1024),
        );
    }

    /// A row for a server's peak memory against the 64 MiB budget.
    fn peak(&mut self, scenario: &str, pid: u32) {
        let peak = memory_kib(pid).1;
        self.row(
            scenario,
            format!("{:.1} MiB", peak as f64 / 1024.0),
            String::new(),
            "≤ 64 MiB",
            Some(peak <= 64 * 1024),
        );
    }

    fn memory(&mut self, group: &str, idle_kib: u64, pid: u32) {
        let peak = memory_kib(pid).1;
        eprintln!("{group:48} idle {idle_kib} KiB, peak {peak} KiB");
        self.memory.push((group.to_owned(), idle_kib, peak));
    }
}

/// Median, minimum, maximum and 99th percentile of a sample.
#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
    p99: Duration,
}

fn stats(mut sample: Vec<Duration>) -> Stats {
    assert!(!sample.is_empty(), "no samples");
    sample.sort();
    let at = |q: f64| sample[((sample.len() - 1) as f64 * q).round() as usize];
    Stats { median: at(0.5), min: sample[0], max: sample[sample.len() - 1], p99: at(0.99) }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 { format!("{:.0} µs", ms * 1000.0) } else { format!("{ms:.1} ms") }
}

impl Stats {
    fn show(&self) -> String {
        format!("{} (min {}, max {})", ms(self.median), ms(self.min), ms(self.max))
    }
}

/// `ours / theirs` of the medians.
fn ratio(ours: Stats, theirs: Stats) -> f64 {
    ours.median.as_secs_f64() / theirs.median.as_secs_f64().max(1e-9)
}

/// A walk over the whole tree and the command it is compared with.
struct Walk {
    name: &'static str,
    tool: &'static str,
    args: Value,
    other: &'static str,
    program: Option<&'static str>,
    other_args: Vec<String>,
    budget: Option<f64>,
}

struct Bench {
    server: PathBuf,
    plan: Plan,
    work: PathBuf,
    report: Report,
    fd: Option<&'static str>,
    rg: bool,
    sqlite3: bool,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut smoke = false;
    let mut server: Option<PathBuf> = None;
    let mut out = PathBuf::from("BENCHMARKS.md");
    let mut work: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--server" => server = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).expect("--out FILE"),
            "--work" => work = args.next().map(PathBuf::from),
            other => panic!(
                "unknown argument {other:?}; usage: bench [--smoke] [--server PATH] [--out FILE] [--work DIR]"
            ),
        }
    }
    // The server built next to this example (target/<profile>/examples/bench → target/<profile>/).
    let server = server.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().and_then(Path::parent).expect("target dir").join("mcp-files-sqlite")
    });
    assert!(
        server.is_file(),
        "no server binary at {}; build it first (bench/run.sh does)",
        server.display()
    );
    let plan = if smoke {
        Plan {
            smoke,
            tree_files: 300,
            tree_dirs: 20,
            big_file_bytes: 1 << 20,
            db_rows: 20_000,
            runs: 1,
            calls: 3,
            changes: 3,
            idle: Duration::from_millis(100),
            million_files: 2_000,
            million_dirs: 20,
        }
    } else {
        Plan {
            smoke,
            tree_files: 100_000,
            tree_dirs: 2_000,
            big_file_bytes: 200 << 20,
            db_rows: 1_000_000,
            runs: 7,
            calls: 300,
            changes: 300,
            idle: Duration::from_secs(10),
            million_files: 1_000_000,
            million_dirs: 10_000,
        }
    };
    let temp = tempfile::Builder::new()
        .prefix("mcp-bench-")
        .tempdir_in(work.unwrap_or_else(std::env::temp_dir))
        .expect("work dir");
    let work = temp.path().to_path_buf();
    let started = Instant::now();
    workload::make_tree(&work.join("tree"), plan.tree_files, plan.tree_dirs);
    workload::make_small(&work.join("small"));
    std::fs::create_dir_all(work.join("big")).unwrap();
    let lines = workload::make_big_file(&work.join("big/big.log"), plan.big_file_bytes);
    workload::make_database(&work.join("sales.db"), plan.db_rows);
    std::fs::create_dir_all(work.join("empty")).unwrap();
    eprintln!("generated the workloads in {:?}", started.elapsed());

    let found = |name: &str| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let fd = ["fdfind", "fd"].into_iter().find(|n| found(n));
    let mut bench = Bench {
        server,
        plan,
        work,
        report: Report::default(),
        fd,
        rg: found("rg"),
        sqlite3: found("sqlite3"),
    };
    for (tool, present) in
        [("fd", bench.fd.is_some()), ("rg", bench.rg), ("sqlite3", bench.sqlite3)]
    {
        if !present {
            bench
                .report
                .notes
                .push(format!("`{tool}` is not installed: its comparisons were skipped."));
        }
    }
    bench.startup();
    bench.small_operations();
    bench.walks();
    bench.big_file(lines);
    bench.resource_listing();
    bench.sql();
    bench.watching();
    bench.million();
    bench.shutdown();
    bench.hostile();
    write_report(&out, &bench);
    peers::side_by_side(&bench, &out);
    eprintln!("wrote {}", out.display());
}

/// Brings a fresh server into the state a shutdown is timed in.
type Prepare<'a> = dyn Fn(&mut Client) + 'a;

impl Bench {
    fn spawn(&self, root: &str, extra: &[&str]) -> Client {
        let mut args = vec![self.work.join(root).display().to_string()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Client::spawn(&self.server, &args)
    }

    fn peak_row(&mut self, scenario: &str, pid: u32) {
        self.report.peak(scenario, pid);
    }

    fn path(&self, rel: &str) -> String {
        self.work.join(rel).display().to_string()
    }

    /// Times one tools/call (send to response).
    fn call(client: &mut Client, tool: &str, arguments: Value) -> Duration {
        let sent = Instant::now();
        let (at, response) =
            client.request("tools/call", json!({ "name": tool, "arguments": arguments }));
        assert_ne!(response["result"]["isError"], json!(true), "{tool} failed: {response}");
        at - sent
    }

    /// Times `calls` calls of the same tool.
    fn calls(&self, client: &mut Client, tool: &str, arguments: &Value) -> Stats {
        stats((0..self.plan.calls).map(|_| Self::call(client, tool, arguments.clone())).collect())
    }

    /// Times `n` calls of the same tool.
    fn calls_n(&self, client: &mut Client, tool: &str, arguments: &Value, n: usize) -> Stats {
        stats((0..n).map(|_| Self::call(client, tool, arguments.clone())).collect())
    }

    /// Calls per second with 16 requests in flight.
    fn throughput(&self, client: &mut Client, method: &str, params: &Value) -> f64 {
        let rounds = self.plan.calls.div_ceil(16).max(1);
        let started = Instant::now();
        for _ in 0..rounds {
            let ids: Vec<u64> = (0..16).map(|_| client.send(method, params.clone())).collect();
            for id in ids {
                client.wait_for("a response", |m| {
                    m.get("id") == Some(&json!(id)) && m.get("method").is_none()
                });
            }
        }
        (rounds * 16) as f64 / started.elapsed().as_secs_f64()
    }

    /// Runs `walk` on `client` and its comparison, interleaved, `runs` times each, and reports
    /// the row for a tree of `files` files.
    fn compare_walk(&mut self, client: &mut Client, walk: &Walk, files: usize, runs: usize) {
        let Walk { name, tool, args, other, program, other_args, budget } = walk;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(Self::call(client, tool, args.clone()));
            if let Some(program) = program {
                theirs.push(Self::command(program, other_args));
            }
        }
        let ours = stats(ours);
        let label = format!("{name}, {files} files");
        if program.is_none() {
            let comparison = format!("{other}: not installed");
            self.report.row(&label, ours.show(), comparison, "", None);
            return;
        }
        let theirs = stats(theirs);
        let r = ratio(ours, theirs);
        self.report.row(
            &label,
            ours.show(),
            format!("{other}: {} → {r:.2}×", theirs.show()),
            &budget.map_or(String::new(), |b| format!("≤ {b}× {other}")),
            budget.map(|b| r <= b),
        );
    }

    /// Times a command run to completion with its output read, as a user's shell would.
    fn command(program: &str, args: &[String]) -> Duration {
        let started = Instant::now();
        let output = Command::new(program).args(args).stderr(Stdio::null()).output().unwrap();
        let took = started.elapsed();
        assert!(
            output.status.success() || output.status.code() == Some(1),
            "{program} {args:?} failed"
        );
        took
    }

    fn startup(&mut self) {
        for (root, what) in [("empty", "empty root"), ("tree", "100k-file root")] {
            let what = if root == "tree" {
                format!("{}-file root", self.plan.tree_files)
            } else {
                what.to_owned()
            };
            let mut times = Vec::new();
            let mut idle = 0;
            for _ in 0..self.plan.runs {
                let mut client = self.spawn(root, &[]);
                let answered = client.initialize();
                times.push(answered - client.spawned);
                idle = memory_kib(client.pid()).0;
            }
            let s = stats(times);
            self.report.row(
                &format!("start to initialize answered, {what}"),
                s.show(),
                String::new(),
                "≤ 5 ms",
                Some(s.median <= Duration::from_millis(5)),
            );
            self.report.memory(&format!("just started, {what}"), idle, 0);
            if let Some(last) = self.report.memory.last_mut() {
                last.2 = idle;
            }
        }
    }

    fn small_operations(&mut self) {
        let mut client = self.spawn("small", &[]);
        client.initialize();
        let idle = memory_kib(client.pid()).0;
        let ping = stats(
            (0..self.plan.calls)
                .map(|_| {
                    let sent = Instant::now();
                    let (at, _) = client.request("ping", json!({}));
                    at - sent
                })
                .collect(),
        );
        self.report.row("ping round trip", ping.show(), String::new(), "", None);
        let ping_rate = self.throughput(&mut client, "ping", &json!({}));
        self.report.row(
            "ping, 16 in flight",
            format!("{ping_rate:.0} per second"),
            String::new(),
            "",
            None,
        );

        // The same round trip through tools/call for a tool that does no I/O: what the protocol
        // layer costs before any file is touched.
        let bare = self.calls(&mut client, "list_allowed_directories", &json!({}));
        let r = ratio(bare, ping);
        self.report.row(
            "tools/call without I/O (list_allowed_directories)",
            bare.show(),
            format!("{r:.2}× a ping"),
            "",
            None,
        );

        let small = self.path("small/small.rs");
        let read = self.calls(&mut client, "read_text_file", &json!({ "path": small }));
        let r = ratio(read, ping);
        self.report.row(
            "read_text_file, 2 KB file",
            read.show(),
            format!("{r:.2}× a ping"),
            "≤ 1.2× a ping",
            Some(r <= 1.2),
        );
        let params = json!({ "name": "read_text_file", "arguments": { "path": small } });
        let read_rate = self.throughput(&mut client, "tools/call", &params);
        self.report.row(
            "read_text_file, 16 in flight",
            format!("{read_rate:.0} per second"),
            String::new(),
            "",
            None,
        );

        let target = self.path("small/written.rs");
        let content = std::fs::read_to_string(&small).unwrap();
        let write =
            self.calls(&mut client, "write_file", &json!({ "path": target, "content": content }));
        self.report.row(
            "write_file, 2 KB (atomic: temp, fsync, rename)",
            write.show(),
            String::new(),
            "",
            None,
        );
        let mut flip = false;
        let edit = stats((0..self.plan.calls).map(|_| {
            flip = !flip;
            let (old, new) = if flip { ("items.iter()", "items.into_iter()") } else { ("items.into_iter()", "items.iter()") };
            Self::call(&mut client, "edit_file", json!({ "path": target, "edits": [{ "oldText": old, "newText": new, "replaceAll": true }] }))
        }).collect());
        self.report.row(
            "edit_file, 28 replacements with diff",
            edit.show(),
            String::new(),
            "",
            None,
        );
        self.journal_cost(&target, &small, write, edit);
        let list =
            self.calls(&mut client, "list_directory", &json!({ "path": self.path("small/list") }));
        self.report.row("list_directory, 50 entries", list.show(), String::new(), "", None);
        self.report.memory("small operations", idle, client.pid());
    }

    /// The same write and edit with the change journal off (`--history off`), next to the
    /// times with it on (`write`, `edit`): what recording each change for undo costs.
    fn journal_cost(&mut self, target: &str, small: &str, write: Stats, edit: Stats) {
        let mut client = self.spawn("small", &["--history", "off"]);
        client.initialize();
        let content = std::fs::read_to_string(small).unwrap();
        let args = json!({ "path": target, "content": content });
        let write_off = self.calls(&mut client, "write_file", &args);
        let mut flip = false;
        let edit_off = stats((0..self.plan.calls).map(|_| {
            flip = !flip;
            let (old, new) = if flip { ("items.iter()", "items.into_iter()") } else { ("items.into_iter()", "items.iter()") };
            Self::call(&mut client, "edit_file", json!({ "path": target, "edits": [{ "oldText": old, "newText": new, "replaceAll": true }] }))
        }).collect());
        for (what, on, off) in
            [("write_file, 2 KB", write, write_off), ("edit_file, 28 replacements", edit, edit_off)]
        {
            self.report.row(
                &format!("{what}, journal off (--history off)"),
                off.show(),
                format!("journal on: {:.2}× ({})", ratio(on, off), on.show()),
                "",
                None,
            );
        }
    }

    fn walks(&mut self) {
        let n = self.plan.tree_files;
        let mut client =
            self.spawn("tree", &["--max-entries", "10000000", "--max-result-bytes", "1GiB"]);
        client.initialize();
        let idle = memory_kib(client.pid()).0;
        let tree = self.path("tree");
        let fd_args = |extra: &[&str]| -> Vec<String> {
            // fd 8.6 (Debian 12) has no --no-require-git, so the tree's .gitignore is given
            // explicitly: the same rules the server applies.
            let mut args: Vec<String> = ["--hidden", "--color", "never", "--ignore-file"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            args.push(format!("{tree}/.gitignore"));
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args.push(".".to_owned());
            args.push(tree.clone());
            args
        };
        let rg_args = vec![
            "--hidden".to_owned(),
            "--no-require-git".to_owned(),
            "-n".to_owned(),
            workload::RARE_TOKEN.to_owned(),
            tree.clone(),
        ];
        let scenarios = [
            Walk {
                name: "search_files `**/*.rs`",
                tool: "search_files",
                args: json!({ "path": tree, "pattern": "**/*.rs" }),
                other: "fd -e rs",
                program: self.fd,
                other_args: fd_args(&["-e", "rs"]),
                budget: Some(0.9),
            },
            Walk {
                name: "directory_tree, whole tree",
                tool: "directory_tree",
                args: json!({ "path": tree }),
                other: "fd (every entry)",
                program: self.fd,
                other_args: fd_args(&[]),
                budget: Some(1.5),
            },
            Walk {
                name: "grep_files, a rare token",
                tool: "grep_files",
                args: json!({ "path": tree, "pattern": workload::RARE_TOKEN }),
                other: "rg",
                program: self.rg.then_some("rg"),
                other_args: rg_args,
                budget: Some(1.0),
            },
        ];
        for walk in scenarios {
            self.compare_walk(&mut client, &walk, n, self.plan.runs);
        }
        self.report.memory(
            &format!("uncapped walks over {n} files (answers of up to {n} entries)"),
            idle,
            client.pid(),
        );
        self.peak_row(&format!("peak RSS over uncapped walks of {n} files"), client.pid());
        drop(client);

        // What a user runs: the default limits. grep for a rare token still walks and reads the
        // whole tree; tree and search stop at the entry limit with a "truncated" note.
        let mut client = self.spawn("tree", &[]);
        client.initialize();
        let idle = memory_kib(client.pid()).0;
        let grep = self.calls_n(
            &mut client,
            "grep_files",
            &json!({ "path": tree, "pattern": workload::RARE_TOKEN }),
            self.plan.runs,
        );
        self.report.row(
            &format!("grep_files, a rare token, {n} files, default limits"),
            grep.show(),
            String::new(),
            "",
            None,
        );
        Self::call(&mut client, "directory_tree", json!({ "path": tree }));
        Self::call(&mut client, "search_files", json!({ "path": tree, "pattern": "**/*.rs" }));
        self.report.memory(&format!("walks over {n} files, default limits"), idle, client.pid());
    }

    fn big_file(&mut self, lines: u64) {
        let mut client = self.spawn("big", &[]);
        client.initialize();
        let idle = memory_kib(client.pid()).0;
        let path = self.path("big/big.log");
        let mb = self.plan.big_file_bytes >> 20;
        let tail = self.calls(&mut client, "read_text_file", &json!({ "path": path, "tail": 100 }));
        self.report.row(
            &format!("read_text_file tail 100 lines, {mb} MB file"),
            tail.show(),
            String::new(),
            "",
            None,
        );
        let middle = lines / 2;
        let deep = json!({ "path": path, "offset": middle, "limit": 100 });
        // The first read of a part deep in the file scans to it (and indexes its lines); later
        // ones seek near it. Each first read is on a fresh server.
        let first = stats(
            (0..self.plan.runs)
                .map(|_| {
                    let mut fresh = self.spawn("big", &["--watch", "off"]);
                    fresh.initialize();
                    Self::call(&mut fresh, "read_text_file", deep.clone())
                })
                .collect(),
        );
        self.report.row(
            &format!("read_text_file 100 lines at line {middle}, {mb} MB file, first read"),
            first.show(),
            String::new(),
            "",
            None,
        );
        let range = self.calls(&mut client, "read_text_file", &deep);
        self.report.row(
            &format!("read_text_file 100 lines at line {middle}, {mb} MB file, repeat reads"),
            range.show(),
            String::new(),
            "≤ 5 ms",
            Some(range.median <= Duration::from_millis(5)),
        );
        self.report.memory(&format!("{mb} MB file"), idle, client.pid());
    }

    /// Hostile inputs (issue 12): time and peak memory of floods that do not read their answers,
    /// a regex that compiles too large, a huge literal, and SQL whose single function calls are
    /// quadratic. Each case runs on a fresh server, so its peak is its own.
    fn hostile(&mut self) {
        let dir = self.work.join("hostile");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.txt"), "x".repeat(1 << 20)).unwrap();
        std::fs::write(dir.join("line.txt"), format!("{}\n", "a".repeat(2000))).unwrap();
        let db = dir.join("h.db");
        if !db.exists() {
            rusqlite::Connection::open(&db).unwrap().execute_batch("CREATE TABLE t(x)").unwrap();
        }
        let (reads, greps) = if self.plan.smoke { (30, 60) } else { (3000, 4000) };
        let base = |extra: &[&str]| -> Vec<String> {
            let mut args = vec![dir.display().to_string(), "--watch".to_owned(), "off".to_owned()];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args
        };
        // A client that sends many 1 MB reads and reads no answer until the server is quiet.
        let (start_reading, paused) = std::sync::mpsc::channel();
        let mut client =
            Client::spawn_reading(&self.server, &base(&["--max-read-bytes", "2MiB"]), Some(paused));
        // The handshake's answer is read by hand: the reader is paused.
        client.write_line(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#,
        );
        client.write_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        // Written from a thread of its own: the server stops reading, and the writes block.
        let mut stdin = client.take_stdin();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            for id in 1..=reads {
                let call = json!({ "jsonrpc": "2.0", "id": 1_000_000 + id, "method": "tools/call",
                    "params": { "name": "read_text_file", "arguments": { "path": "big.txt" } } });
                if writeln!(stdin, "{call}").and_then(|()| stdin.flush()).is_err() {
                    break;
                }
            }
            stdin
        });
        let pid = client.pid();
        client.wait_quiet();
        let (_, peak) = memory_kib(pid);
        let started = Instant::now();
        drop(start_reading);
        client.drain(reads + 1);
        let drained = started.elapsed();
        let _stdin = writer.join().unwrap();
        let (_, peak_after) = memory_kib(pid);
        self.report.row(
            &format!(
                "{reads} pipelined 1 MB reads a client does not read until the server is idle: peak RSS (all answered {:.1} s after it read)",
                drained.as_secs_f64()
            ),
            format!("{:.1} MiB", peak.max(peak_after) as f64 / 1024.0),
            String::new(),
            "≤ 256 MiB",
            Some(peak.max(peak_after) <= 256 * 1024),
        );
        drop(client);
        // Many pipelined greps.
        let mut client = Client::spawn(&self.server, &base(&[]));
        client.initialize();
        let started = Instant::now();
        let pid = client.pid();
        let mut most_threads = 0;
        let ids: Vec<u64> = (0..greps)
            .map(|_| {
                client.send(
                    "tools/call",
                    json!({ "name": "grep_files", "arguments": { "path": ".", "pattern": "a{3}|x{3}" } }),
                )
            })
            .collect();
        for id in ids {
            most_threads = most_threads.max(threads(pid));
            client.wait_for("a grep answer", |m| m.get("id") == Some(&json!(id)));
        }
        let took = started.elapsed();
        let (_, peak) = memory_kib(pid);
        self.report.row(
            &format!("{greps} pipelined greps: all answered, peak RSS, threads at most"),
            format!(
                "{:.1} s, {:.1} MiB, {most_threads} threads",
                took.as_secs_f64(),
                peak as f64 / 1024.0
            ),
            String::new(),
            "≤ 256 MiB",
            Some(peak <= 256 * 1024),
        );
        drop(client);
        // A regex that compiles too large, and a 100,000-character literal.
        for (what, pattern) in [
            ("grep (x{1,1000}){1000}: refused", "(x{1,1000}){1000}".to_owned()),
            ("grep a 100,000-character literal over a 2,000-character line", "a".repeat(100_000)),
        ] {
            let mut client = Client::spawn(&self.server, &base(&[]));
            client.initialize();
            let pid = client.pid();
            let sent = Instant::now();
            let (at, _) = client.request(
                "tools/call",
                json!({ "name": "grep_files", "arguments": { "path": ".", "pattern": pattern } }),
            );
            let (_, peak) = memory_kib(pid);
            self.report.row(
                what,
                format!(
                    "{:.1} ms, peak {:.1} MiB",
                    (at - sent).as_secs_f64() * 1000.0,
                    peak as f64 / 1024.0
                ),
                String::new(),
                "≤ 64 MiB",
                Some(peak <= 64 * 1024),
            );
        }
        // SQL: single calls that are quadratic in SQLite's built-ins, with a 2 s timeout.
        let db_arg = format!("h={}", db.display());
        let mut client = Client::spawn(
            &self.server,
            &["--db".to_owned(), db_arg.clone(), "--query-timeout".to_owned(), "2s".to_owned()],
        );
        client.initialize();
        for (what, query) in [
            (
                "SQL instr of 2 MB and 1 MB (timeout 2 s)",
                "SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 1000000, 'a') || 'b')",
            ),
            (
                "SQL LIKE with a 49,000-character pattern (timeout 2 s)",
                "SELECT printf('%.*c', 300000, 'a') LIKE ('%' || printf('%.*c', 49000, 'a') || 'b')",
            ),
        ] {
            let sent = Instant::now();
            let (at, _) = client.request(
                "tools/call",
                json!({ "name": "read_query", "arguments": { "query": query } }),
            );
            let took = at - sent;
            self.report.row(
                what,
                format!("{:.2} s", took.as_secs_f64()),
                String::new(),
                "≤ 2 × --query-timeout",
                Some(took <= Duration::from_secs(4)),
            );
        }
        drop(client);
        // The same LIKE, cancelled: how long until the database answers again.
        let mut client = Client::spawn(
            &self.server,
            &["--db".to_owned(), db_arg, "--query-timeout".to_owned(), "600s".to_owned()],
        );
        client.initialize();
        let like =
            "SELECT printf('%.*c', 300000, 'a') LIKE ('%' || printf('%.*c', 49000, 'a') || 'b')";
        let id = client
            .send("tools/call", json!({ "name": "read_query", "arguments": { "query": like } }));
        client.request("ping", json!({}));
        let cancelled = Instant::now();
        client.notify("notifications/cancelled", json!({ "requestId": id }));
        let (at, _) = client.request(
            "tools/call",
            json!({ "name": "read_query", "arguments": { "query": "SELECT 1" } }),
        );
        let took = at - cancelled;
        self.report.row(
            "SQL LIKE cancelled: the database answers again after",
            format!("{:.0} ms", took.as_secs_f64() * 1000.0),
            String::new(),
            "≤ 1 s",
            Some(took <= Duration::from_secs(1)),
        );
    }

    /// How long the server takes to exit after stdin closes: idle, with a 2026-07-28
    /// `subscriptions/listen` stream open, during an endless query and during a grep of the
    /// tree. The client is gone, so nothing should hold the exit up.
    fn shutdown(&mut self) {
        let db = self.path("sales.db");
        let tree = self.path("tree");
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "bench", "version": "0" }
        });
        let states: [(&str, &Prepare); 4] = [
            ("idle", &|client: &mut Client| {
                client.initialize();
            }),
            ("a subscriptions/listen stream open", &|client: &mut Client| {
                client.send(
                    "subscriptions/listen",
                    json!({ "notifications": { "resourcesListChanged": true }, "_meta": meta }),
                );
                client.wait_for("the listen acknowledgment", |m| {
                    m["method"] == "notifications/subscriptions/acknowledged"
                });
            }),
            ("an endless query running", &|client: &mut Client| {
                client.initialize();
                let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
                client.send(
                    "tools/call",
                    json!({ "name": "read_query", "arguments": { "query": endless }, "_meta": { "progressToken": 1 } }),
                );
                client.wait_for("progress", |m| m["method"] == "notifications/progress");
            }),
            ("a grep of the tree running", &|client: &mut Client| {
                client.initialize();
                client.send(
                    "tools/call",
                    json!({ "name": "grep_files", "arguments": { "path": tree, "pattern": "no such token anywhere" }, "_meta": { "progressToken": 1 } }),
                );
                // (A tiny smoke tree may be searched before the first progress.)
                client.wait_for("progress", |m| {
                    m["method"] == "notifications/progress" || m.get("result").is_some()
                });
            }),
        ];
        for (state, prepare) in states {
            let mut times = Vec::new();
            for _ in 0..self.plan.runs {
                let mut client = Client::spawn(
                    &self.server,
                    &[
                        tree.clone(),
                        "--db".to_owned(),
                        format!("sales={db}"),
                        "--query-timeout".to_owned(),
                        "600s".to_owned(),
                        "--progress-after".to_owned(),
                        "10ms".to_owned(),
                    ],
                );
                prepare(&mut client);
                times.push(client.close_and_time_exit());
            }
            let s = stats(times);
            self.report.row(
                &format!("stdin closed → process exited, {state}"),
                s.show(),
                String::new(),
                "≤ 100 ms",
                Some(s.max <= Duration::from_millis(100)),
            );
        }
    }

    fn resource_listing(&mut self) {
        let n = self.plan.tree_files;
        let mut client = self.spawn("tree", &[]);
        client.initialize();
        let idle = memory_kib(client.pid()).0;
        let mut times = Vec::new();
        let mut fd_times = Vec::new();
        let mut page_times = Vec::new();
        let mut pages = 0;
        let mut page_size = 0;
        let tree = self.path("tree");
        let fd_args: Vec<String> = [
            "--hidden",
            "--type",
            "f",
            "--color",
            "never",
            "--ignore-file",
            &format!("{tree}/.gitignore"),
            ".",
            &tree,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for _ in 0..self.plan.runs {
            if let Some(fd) = self.fd {
                fd_times.push(Self::command(fd, &fd_args));
            }
            let started = Instant::now();
            let mut cursor: Option<String> = None;
            pages = 0;
            loop {
                let params = match &cursor {
                    Some(c) => json!({ "cursor": c }),
                    None => json!({}),
                };
                let page_started = Instant::now();
                let (_, response) = client.request("resources/list", params);
                page_times.push(page_started.elapsed());
                pages += 1;
                let listed = response["result"]["resources"].as_array().map_or(0, Vec::len);
                page_size = page_size.max(listed);
                match response["result"]["nextCursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            times.push(started.elapsed());
        }
        let s = stats(times);
        self.report.row(
            &format!("resources/list, every page ({pages} pages), {n} files"),
            s.show(),
            String::new(),
            "≤ 50 pages (the MCP Inspector stops at 64)",
            Some(pages <= 50),
        );
        if self.fd.is_some() {
            let fd = stats(fd_times);
            let r = ratio(s, fd);
            self.report.row(
                &format!("resources/list, every page, {n} files, against one walk"),
                s.show(),
                format!("fd --type f: {} → {r:.2}×", fd.show()),
                "≤ 2× fd",
                Some(r <= 2.0),
            );
        }
        self.report.row(
            &format!("resources/list, one page ({page_size} resources, default page size)"),
            stats(page_times).show(),
            String::new(),
            "",
            None,
        );
        self.report.memory(&format!("resources/list over {n} files"), idle, client.pid());
    }

    fn sql(&mut self) {
        let rows = self.plan.db_rows;
        let db = self.path("sales.db");
        let mut client = Client::spawn(
            &self.server,
            &[
                "--db".to_owned(),
                format!("sales={db}"),
                "--max-rows".to_owned(),
                "10000".to_owned(),
                "--max-result-bytes".to_owned(),
                "64MiB".to_owned(),
            ],
        );
        client.initialize();
        let idle = memory_kib(client.pid()).0;
        let queries = [
            ("count(*)", "SELECT count(*) FROM sales", Some(1.2)),
            (
                "GROUP BY region, sum and avg",
                "SELECT region, count(*), sum(qty * price), avg(price) FROM sales GROUP BY region ORDER BY region",
                Some(1.0),
            ),
            (
                "a 10,000-row page",
                "SELECT id, region, product, qty, price, day FROM sales LIMIT 10000",
                Some(1.1),
            ),
        ];
        for (name, query, budget) in queries {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for _ in 0..self.plan.runs {
                ours.push(Self::call(&mut client, "read_query", json!({ "query": query })));
                if self.sqlite3 {
                    // JSON, like our answer (for the page; the aggregates are a row or ten).
                    theirs.push(Self::command(
                        "sqlite3",
                        &["-readonly".to_owned(), "-json".to_owned(), db.clone(), query.to_owned()],
                    ));
                }
            }
            let ours = stats(ours);
            let label = format!("SQL {name}, {rows} rows");
            if self.sqlite3 {
                let theirs = stats(theirs);
                let r = ratio(ours, theirs);
                self.report.row(
                    &label,
                    ours.show(),
                    format!("sqlite3: {} → {r:.2}×", theirs.show()),
                    &budget.map_or(String::new(), |b| format!("≤ {b}× sqlite3")),
                    budget.map(|b| r <= b),
                );
            } else {
                self.report.row(&label, ours.show(), "sqlite3: not installed".to_owned(), "", None);
            }
        }
        // describe_table counts rows only up to --max-counted-rows: its cost does not grow with
        // the table.
        let describe = self.calls_n(
            &mut client,
            "describe_table",
            &json!({ "table_name": "sales" }),
            self.plan.runs.max(20),
        );
        self.report.row(
            &format!("describe_table, {rows} rows"),
            describe.show(),
            String::new(),
            "",
            None,
        );
        self.report.memory(&format!("SQL over {rows} rows"), idle, client.pid());
        self.peak_row(
            &format!("peak RSS over SQL on {rows} rows (10,000-row pages)"),
            client.pid(),
        );
        drop(client);
        self.update_journal_cost(&db);
    }

    /// A 10,000-row UPDATE with the change journal on (its changeset recorded and kept) and off
    /// (`--history off`), call by call in turn, each on its own copy of the database.
    fn update_journal_cost(&mut self, db: &str) {
        let spawn = |name: &str, history: &[String]| {
            let copy = self.path(name);
            std::fs::copy(db, &copy).unwrap();
            let mut args = vec!["--db-rw".to_owned(), format!("sales={copy}")];
            args.extend(history.iter().cloned());
            let mut client = Client::spawn(&self.server, &args);
            client.initialize();
            client
        };
        let history = self.path("history");
        let mut on = spawn("sales-journal-on.db", &["--history".to_owned(), history]);
        let mut off = spawn("sales-journal-off.db", &["--history".to_owned(), "off".to_owned()]);
        let (mut times_on, mut times_off) = (Vec::new(), Vec::new());
        for i in 0..self.plan.runs.max(20) {
            let step = if i % 2 == 0 { "+ 1" } else { "- 1" };
            let query =
                json!({ "query": format!("UPDATE sales SET qty = qty {step} WHERE id <= 10000") });
            times_on.push(Self::call(&mut on, "write_query", query.clone()));
            times_off.push(Self::call(&mut off, "write_query", query));
        }
        let (on, off) = (stats(times_on), stats(times_off));
        self.report.row(
            "write_query, a 10,000-row UPDATE, journal off (--history off)",
            off.show(),
            format!("journal on: {:.2}× ({})", ratio(on, off), on.show()),
            "",
            None,
        );
    }

    fn watching(&mut self) {
        let n = self.plan.tree_files;
        let mut ready = Vec::new();
        let mut rss = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..self.plan.runs.min(3) {
            let mut client = self.spawn("tree", &[]);
            client.initialize();
            let watching = client.wait_stderr("watching for changes");
            ready.push(watching - client.spawned);
            let before = cpu_time(client.pid());
            std::thread::sleep(self.plan.idle);
            let after = cpu_time(client.pid());
            rss.push(memory_kib(client.pid()).0);
            cpu.push((after - before).as_secs_f64() / self.plan.idle.as_secs_f64() * 100.0);
        }
        let ready = stats(ready);
        self.report.row(
            &format!("watcher ready in the background, {n} files"),
            ready.show(),
            String::new(),
            "after initialize",
            None,
        );
        cpu.sort_by(f64::total_cmp);
        self.report.idle_rss(&format!("idle RSS while watching {n} files"), rss, 15);
        self.report.row(
            &format!("idle CPU while watching {n} files, {:?}", self.plan.idle),
            format!("{:.2} % of a core (max {:.2} %)", cpu[cpu.len() / 2], cpu[cpu.len() - 1]),
            String::new(),
            "no busy polling",
            Some(cpu[cpu.len() - 1] < 1.0),
        );

        // Latency from a write on disk to the notification, default debounce (100 ms).
        let mut client = self.spawn("tree", &[]);
        client.initialize();
        client.wait_stderr("watching for changes");
        let idle = memory_kib(client.pid()).0;
        let targets: Vec<PathBuf> =
            (0..20).map(|i| self.work.join(format!("tree/hot{i:02}.txt"))).collect();
        for path in &targets {
            std::fs::write(path, "0").unwrap();
        }
        client.wait_for("list_changed", |m| m["method"] == "notifications/resources/list_changed");
        for path in &targets {
            client.request("resources/subscribe", json!({ "uri": file_uri(path) }));
        }
        client.clear_backlog();
        let mut latencies = Vec::new();
        for i in 0..self.plan.changes {
            let path = &targets[i % targets.len()];
            let uri = file_uri(path);
            let written = Instant::now();
            std::fs::write(path, format!("change {i}")).unwrap();
            let (at, _) = client.wait_for("an update", |m| {
                m["method"] == "notifications/resources/updated" && m["params"]["uri"] == json!(uri)
            });
            latencies.push(at - written);
        }
        let lat = stats(latencies);
        self.report.row(
            &format!("write on disk → updated, {} changes", self.plan.changes),
            format!(
                "median {}, p99 {} (min {}, max {})",
                ms(lat.median),
                ms(lat.p99),
                ms(lat.min),
                ms(lat.max)
            ),
            String::new(),
            "≤ debounce (100 ms) + 50 ms",
            Some(lat.p99 <= Duration::from_millis(150)),
        );
        self.report.memory(
            &format!("watching {n} files, {} changes", self.plan.changes),
            idle,
            client.pid(),
        );
    }
}

fn write_report(out: &Path, bench: &Bench) {
    let plan = &bench.plan;
    let report = &bench.report;
    let mut text = String::new();
    let _ = writeln!(text, "# Benchmarks\n");
    let _ = writeln!(
        text,
        "Generated by `bash bench/run.sh`{} on {} with {} cores. Workloads: a {}-file tree in {} \
         directories with a `.gitignore`, a {} MB text file, a {}-row database, and a {}-file tree \
         in {} directories. Each heavy scenario runs {} times (3 on the largest tree), interleaved \
         with its comparison; light ones are timed over {} calls. Results are medians (min, max). \
         Our side is a request on a running server, timed from sending it to the arrival of the \
         whole response line (before the client parses it); the comparison is the tool run by a \
         shell, process start included, its output read. Budgets are \
         the goals of issue 14 and `docs/design.md`.\n",
        if plan.smoke { " --smoke (tiny workloads: not a measurement)" } else { "" },
        std::env::consts::OS,
        std::thread::available_parallelism().map_or(0, usize::from),
        plan.tree_files,
        plan.tree_dirs,
        plan.big_file_bytes >> 20,
        plan.db_rows,
        plan.million_files,
        plan.million_dirs,
        plan.runs,
        plan.calls,
    );
    let _ = writeln!(
        text,
        "Where a result is over budget, `bench/PROFILES.md` shows the profile behind it and what was tried.\n"
    );
    let _ = writeln!(text, "| scenario | result | comparison | budget | verdict |");
    let _ = writeln!(text, "| --- | --- | --- | --- | --- |");
    for row in &report.rows {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            row.scenario, row.result, row.comparison, row.budget, row.verdict
        );
    }
    let _ = writeln!(text, "\n## Memory\n");
    let _ = writeln!(
        text,
        "Resident memory of the server that ran each group: after `initialize`, and its peak. Budgets: ≤ 15 MiB idle, ≤ 100 MiB peak on any 100,000-file operation with the default limits, and ≤ 64 MiB peak for the uncapped walks (answers of 100,000 entries, written as the walk goes) and the 10,000-row pages.\n"
    );
    let _ = writeln!(text, "| server | idle RSS | peak RSS |");
    let _ = writeln!(text, "| --- | --- | --- |");
    for (group, idle, peak) in &report.memory {
        let _ = writeln!(
            text,
            "| {group} | {:.1} MiB | {:.1} MiB |",
            *idle as f64 / 1024.0,
            *peak as f64 / 1024.0
        );
    }
    if !report.notes.is_empty() {
        let _ = writeln!(text, "\n## Notes\n");
        for note in &report.notes {
            let _ = writeln!(text, "- {note}");
        }
    }
    std::fs::write(out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// The `file://` URI of an absolute path (`file:///C:/x` for a Windows drive path).
fn file_uri(path: &Path) -> String {
    let path = path.display().to_string();
    if path.as_bytes().get(1) == Some(&b':') {
        format!("file:///{}", path.replace('\\', "/"))
    } else {
        format!("file://{path}")
    }
}

/// Threads of a process (Linux); zero elsewhere.
fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
