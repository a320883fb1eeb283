#!/usr/bin/env bash
# The benchmark suite: installs the tools it compares against (Debian's fd-find, ripgrep and
# sqlite3) if they are missing, and the reference MCP servers it runs side by side with ours
# (bench/peers.sh: pinned, into bench/.peers/; a peer that cannot be installed is left out and the
# report says so), builds the server and the driver in release mode, runs every
# scenario and writes BENCHMARKS.md. Arguments go to the driver (--smoke, --out FILE, --work DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v fdfind >/dev/null 2>&1 || command -v fd >/dev/null 2>&1 || need+=(fd-find)
command -v rg >/dev/null 2>&1 || need+=(ripgrep)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${need[*]} for the comparisons" >&2
    $sudo apt-get install -y "${need[@]}" >&2 \
        || { $sudo apt-get update >&2 && $sudo apt-get install -y "${need[@]}" >&2; } \
        || echo "could not install ${need[*]}; those comparisons are skipped" >&2
fi

bash .ci/libclang.sh
bash bench/peers.sh || echo "a reference server is missing; the report says which" >&2

cargo build --release --locked --bin mcp-files-sqlite --example bench
exec target/release/examples/bench "$@"
