#!/usr/bin/env bash
# The benchmark suite: builds the server and the driver in release mode, then runs every scenario
# and writes BENCHMARKS.md. Arguments go to the driver (e.g. --smoke, --out FILE, --work DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin mcp-files-sqlite --example bench
exec target/release/examples/bench "$@"
