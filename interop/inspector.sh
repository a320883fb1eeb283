#!/usr/bin/env bash
# Interop checks with the MCP Inspector CLI (@modelcontextprotocol/inspector@2.12.0, installed in
# interop/node_modules by run.sh; it needs Node >= 22.19, which run.sh puts first on PATH).
#
# In both protocol eras (--protocol-era legacy|modern):
#   - tools/list --strict exits 0: no tool schema has an error-severity portability problem
#     (bare `true` schemas, ...); --strict is accepted only with tools/list, so
#   - resources/list and resources/templates/list run without it, must exit 0 and list the
#     expected URIs;
#   - tools/call read_text_file exits 0 (5 would be an isError result). The Inspector declares
#     the roots capability and answers roots/list with [] in the legacy era, so this also checks
#     that the configured directories stay usable then.
# Inspector flags come first, server arguments after `--` (an option after `--` goes to the server).
#
# Usage: inspector.sh /path/to/mcp-files-sqlite   (prints PASS/FAIL lines; exit 1 if any failed)
set -uo pipefail

BIN=${1:?usage: inspector.sh /path/to/mcp-files-sqlite}
[[ $BIN == /* ]] || BIN="$PWD/$BIN"
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE" || exit 1   # so npx finds the pinned local install (interop/node_modules), never the network
INSPECTOR=(npx --offline @modelcontextprotocol/inspector --cli --connect-timeout 90000)
TIMEOUT=${INTEROP_INSPECTOR_TIMEOUT:-120}   # per call (each starts its own server); generous

command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)' || {
  echo "FAIL [inspector] needs Node >= 22.19 first on PATH (run through interop/run.sh); have $(node --version 2>&1)"
  exit 1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcp-interop-inspector-XXXXXX")
cp -r "$HERE/../sample-data" "$TMP/"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)"); c.commit()' "$TMP/scratch.db"
ROOT="$TMP/sample-data"
SERVER_ARGS=("$ROOT" --db "shop=$ROOT/data/bookshop.db" --db-rw "scratch=$TMP/scratch.db" --history "$TMP/history")

passed=0
failed=0
hung=""   # after a call that timed out, the rest are failed at once (the server likely hangs on start)
pass() { passed=$((passed + 1)); echo "PASS [inspector $1] $2"; }
fail() { failed=$((failed + 1)); echo "FAIL [inspector $1] $2"; }

# run ERA NAME EXPECT... -- INSPECTOR-ARGS...: exit 0 required, and each EXPECT string in stdout.
run() {
  local era=$1 name=$2
  shift 2
  local expect=()
  while [[ $1 != -- ]]; do expect+=("$1"); shift; done
  shift
  local out="$TMP/out.$era.${name//[^a-z]/_}" rc
  if [[ -n $hung ]]; then fail "$era" "$name: skipped: $hung"; return; fi
  timeout "$TIMEOUT" "${INSPECTOR[@]}" --protocol-era "$era" "$@" --format json "$BIN" -- "${SERVER_ARGS[@]}" \
    >"$out.stdout" 2>"$out.stderr"
  rc=$?
  if ((rc != 0)); then
    local why="exit $rc"
    ((rc == 124)) && why="no answer within ${TIMEOUT}s" && hung="an earlier call got no answer within ${TIMEOUT}s"
    ((rc == 5)) && why="exit 5: the tool returned isError"
    ((rc == 6)) && why="exit 6: --strict found error-severity schema portability problems"
    fail "$era" "$name: $why"
    # Error-severity findings of --strict (with their path and issue), then the last lines.
    grep -A2 '^Error' "$out.stderr" | sed 's/^/      /' | head -60
    grep -v '^20[0-9][0-9]-' "$out.stderr" | tail -n 5 | sed 's/^/      /'
    head -c 600 "$out.stdout" | sed 's/^/      stdout: /'; echo
    return
  fi
  local missing=()
  for e in "${expect[@]}"; do grep -qF -- "$e" "$out.stdout" || missing+=("$e"); done
  if ((${#missing[@]})); then
    fail "$era" "$name: exit 0 but the output lacks ${missing[*]}"
    head -c 600 "$out.stdout" | sed 's/^/      stdout: /'; echo
    return
  fi
  local summary
  summary=$(grep -E '^[0-9]+ errors?, [0-9]+ warnings?' "$out.stderr" | tail -n 1)
  pass "$era" "$name${summary:+ ($summary)}"
}

README_URI="file://$ROOT/README.md"
for era in legacy modern; do
  run "$era" "tools/list --strict" '"read_text_file"' '"read_query"' -- --strict --method tools/list
  run "$era" "resources/list" '"sqlite://shop/schema"' "\"$README_URI\"" -- --method resources/list
  run "$era" "resources/templates/list" '"file:///{+path}"' '"sqlite://{db}/table/{table}"' \
    -- --method resources/templates/list
  run "$era" "tools/call read_text_file" 'Corner Bookshop' -- --method tools/call --tool-name read_text_file \
    --tool-args-json '{"path": "README.md", "head": 1}'
done

if ((failed == 0)); then rm -rf "$TMP"; else echo "INFO [inspector] kept $TMP for inspection"; fi
echo "inspector: $passed passed, $failed failed"
((failed == 0))
