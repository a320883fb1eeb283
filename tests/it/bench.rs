//! The benchmark suite's smoke run: every scenario once, on tiny workloads, against the debug
//! binary, so the suite cannot rot. Its numbers mean nothing; `bash bench/run.sh` measures.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{BIN, Launch};

/// `cargo test` builds the examples next to the test binaries: target/<profile>/examples/.
fn bench_driver() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    profile_dir.join("examples").join(format!("bench{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_benchmark_suite_runs_end_to_end_on_tiny_workloads() {
    let driver = bench_driver();
    assert!(driver.is_file(), "the bench example was not built at {}", driver.display());
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("BENCHMARKS.md");
    let output = Command::new(&driver)
        .args(["--smoke", "--server"])
        .arg(&*BIN)
        .arg("--out")
        .arg(&report)
        .arg("--work")
        .arg(out.path())
        .run();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench --smoke failed:\n{stderr}");
    let text = std::fs::read_to_string(&report).unwrap();
    for metric in [
        "start to initialize answered",
        "search_files",
        "grep_files",
        "SQL GROUP BY",
        "idle RSS",
        "write on disk → updated",
        "## Memory",
        // Always there: a reference server that is not installed says so in its cells.
        "## Side by side with the reference servers",
    ] {
        assert!(text.contains(metric), "the report lacks {metric:?}:\n{text}");
    }
}
