//! The benchmark suite: drives the release binary over stdio the way a host does and writes
//! `BENCHMARKS.md`. Run it with `bash bench/run.sh` (which builds it and the server in release
//! mode); `--smoke` runs every scenario once on tiny workloads, as the test suite does.
//!
//! Usage: bench [--smoke] [--server PATH] [--out FILE] [--work DIR]

mod client;
mod workload;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use client::{Client, cpu_time, memory_kib};

/// What the suite measures at which size.
struct Plan {
    smoke: bool,
    /// Files in the big tree.
    tree_files: usize,
    /// Directories in the big tree.
    tree_dirs: usize,
    /// Runs of each start-up scenario.
    runs: usize,
    /// Changes timed for the notification latency.
    changes: usize,
    /// How long the idle server is watched.
    idle: Duration,
}

/// One line of the report.
struct Row {
    scenario: String,
    metric: String,
    /// Median, min, max (and p99 where it means something), already formatted.
    value: String,
    budget: String,
    verdict: String,
}

struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    fn row(&mut self, scenario: &str, metric: &str, value: String, budget: &str, ok: Option<bool>) {
        let verdict = match ok {
            Some(true) => "within budget",
            Some(false) => "OVER BUDGET",
            None => "",
        };
        eprintln!("{scenario:32} {metric:34} {value}  {verdict}");
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            value,
            budget: budget.to_owned(),
            verdict: verdict.to_owned(),
        });
    }
}

/// Median, minimum, maximum and 99th percentile of a sample.
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
    p99: Duration,
    n: usize,
}

fn stats(mut sample: Vec<Duration>) -> Stats {
    assert!(!sample.is_empty(), "no samples");
    sample.sort();
    let at = |q: f64| sample[((sample.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        min: sample[0],
        max: sample[sample.len() - 1],
        p99: at(0.99),
        n: sample.len(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
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
            runs: 1,
            changes: 5,
            idle: Duration::from_millis(200),
        }
    } else {
        Plan {
            smoke,
            tree_files: 100_000,
            tree_dirs: 2_000,
            runs: 5,
            changes: 300,
            idle: Duration::from_secs(10),
        }
    };
    let temp = tempfile::Builder::new()
        .prefix("mcp-bench-")
        .tempdir_in(work.unwrap_or_else(std::env::temp_dir))
        .expect("work dir");
    let tree = temp.path().join("tree");
    let started = Instant::now();
    workload::make_tree(&tree, plan.tree_files, plan.tree_dirs);
    eprintln!(
        "generated {} files in {} directories in {:?}",
        plan.tree_files,
        plan.tree_dirs,
        started.elapsed()
    );

    let mut report = Report { rows: Vec::new(), notes: Vec::new() };
    watch_scenarios(&server, &tree, &plan, &mut report);
    write_report(&out, &plan, &report);
    eprintln!("wrote {}", out.display());
}

/// Notification latency and the idle cost of watching a big tree.
fn watch_scenarios(server: &Path, tree: &Path, plan: &Plan, report: &mut Report) {
    let files = plan.tree_files;
    let scenario = format!("watch, {files}-file tree");
    let root_arg = vec![tree.display().to_string()];

    // Start-up with the watcher: initialize answered, and the watcher ready (index built).
    let mut init = Vec::new();
    let mut ready = Vec::new();
    let mut rss = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..plan.runs {
        let mut client = Client::spawn(server, &root_arg);
        let answered = client.initialize();
        init.push(answered - client.spawned);
        let watching = client.wait_stderr("watching for changes");
        ready.push(watching - client.spawned);
        // Idle: no requests, files unchanged.
        let cpu_before = cpu_time(client.pid());
        std::thread::sleep(plan.idle);
        let cpu_after = cpu_time(client.pid());
        rss.push(memory_kib(client.pid()).0);
        cpu.push((cpu_after - cpu_before).as_secs_f64() / plan.idle.as_secs_f64() * 100.0);
    }
    let init = stats(init);
    report.row(
        &scenario,
        "start to initialize answered",
        format!(
            "{} (min {}, max {}, {} runs)",
            ms(init.median),
            ms(init.min),
            ms(init.max),
            init.n
        ),
        "≤ 10 ms",
        Some(init.median <= Duration::from_millis(10)),
    );
    let ready = stats(ready);
    report.row(
        &scenario,
        "start to watcher ready (background)",
        format!("{} (min {}, max {})", ms(ready.median), ms(ready.min), ms(ready.max)),
        "",
        None,
    );
    rss.sort_unstable();
    let rss_median = rss[rss.len() / 2];
    report.row(
        &scenario,
        "idle RSS",
        format!(
            "{:.1} MiB (min {:.1}, max {:.1})",
            rss_median as f64 / 1024.0,
            rss[0] as f64 / 1024.0,
            rss[rss.len() - 1] as f64 / 1024.0
        ),
        "≤ 15 MiB",
        Some(rss_median <= 15 * 1024),
    );
    cpu.sort_by(f64::total_cmp);
    report.row(
        &scenario,
        &format!("idle CPU over {:?}", plan.idle),
        format!("{:.2} % of a core (max {:.2} %)", cpu[cpu.len() / 2], cpu[cpu.len() - 1]),
        "no busy polling",
        Some(cpu[cpu.len() - 1] < 1.0),
    );

    // Latency from a write on disk to the notification, default debounce (100 ms).
    let mut client = Client::spawn(server, &root_arg);
    client.initialize();
    client.wait_stderr("watching for changes");
    let targets: Vec<PathBuf> = (0..20).map(|i| tree.join(format!("hot{i:02}.txt"))).collect();
    for path in &targets {
        std::fs::write(path, "0").unwrap();
    }
    // Let the creations settle, then subscribe.
    client.wait_for("list_changed", |m| m["method"] == "notifications/resources/list_changed");
    for path in &targets {
        client
            .request("resources/subscribe", json!({ "uri": format!("file://{}", path.display()) }));
    }
    client.clear_backlog();
    let mut latencies = Vec::new();
    for i in 0..plan.changes {
        let path = &targets[i % targets.len()];
        let uri = format!("file://{}", path.display());
        let written = Instant::now();
        std::fs::write(path, format!("change {i}")).unwrap();
        let (at, _) = client.wait_for("an update", |m| {
            m["method"] == "notifications/resources/updated" && m["params"]["uri"] == json!(uri)
        });
        latencies.push(at - written);
    }
    let lat = stats(latencies);
    let budget = Duration::from_millis(150);
    report.row(
        &scenario,
        &format!("write → updated, {} changes", lat.n),
        format!(
            "median {}, p99 {} (min {}, max {})",
            ms(lat.median),
            ms(lat.p99),
            ms(lat.min),
            ms(lat.max)
        ),
        "≤ debounce (100 ms) + 50 ms",
        Some(lat.p99 <= budget),
    );
    if !plan.smoke {
        report.notes.push(format!(
            "Latency includes the 100 ms debounce: the server waits for changes to settle before it notifies. Peak RSS of the latency run: {:.1} MiB.",
            memory_kib(client.pid()).1 as f64 / 1024.0
        ));
    }
}

fn write_report(out: &Path, plan: &Plan, report: &Report) {
    let mut text = String::new();
    let _ = writeln!(text, "# Benchmarks\n");
    let _ = writeln!(
        text,
        "Generated by `bash bench/run.sh`{} on {} ({} cores). Numbers are medians of several runs \
         with min and max; budgets are from `docs/design.md`.\n",
        if plan.smoke { " --smoke (tiny workloads: not a measurement)" } else { "" },
        std::env::consts::OS,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let _ = writeln!(text, "| scenario | metric | result | budget | verdict |");
    let _ = writeln!(text, "| --- | --- | --- | --- | --- |");
    for row in &report.rows {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            row.scenario, row.metric, row.value, row.budget, row.verdict
        );
    }
    if !report.notes.is_empty() {
        let _ = writeln!(text);
        for note in &report.notes {
            let _ = writeln!(text, "- {note}");
        }
    }
    std::fs::write(out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
