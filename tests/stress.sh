#!/usr/bin/env bash
# The whole test suite, several times in a row, with two busy loops per core running beside it:
# the check that no test depends on how fast or how loaded the machine is.
#
#   bash tests/stress.sh [RUNS]     (default 5; stops at the first failing run)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo test --locked --no-run >/dev/null 2>&1
loops=$(( $(nproc) * 2 ))
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq "$loops"); do (while :; do :; done) & pids+=($!); done
echo "stress: $loops busy loops on $(nproc) cores; $runs runs of cargo test --locked"
for run in $(seq "$runs"); do
  started=$SECONDS
  if cargo test --locked >"/tmp/stress-run-$run.log" 2>&1; then
    echo "run $run: ok ($(grep -h '^test result' "/tmp/stress-run-$run.log" | awk '{s+=$4} END {print s}') tests, $((SECONDS - started))s)"
  else
    echo "run $run: FAILED ($((SECONDS - started))s); see /tmp/stress-run-$run.log"
    grep -E '^test .* FAILED|panicked' "/tmp/stress-run-$run.log" | head -20
    exit 1
  fi
done
echo "stress: all $runs runs passed"
