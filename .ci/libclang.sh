#!/usr/bin/env bash
# libclang, which the build needs: the undo of SQL changes uses SQLite's session extension, and
# rusqlite's `session` feature generates its bindings at build time with bindgen (libsqlite3-sys
# turns on `buildtime_bindgen` for it). Installs Debian's libclang-dev when no libclang is found;
# idempotent. Sourced by .ci/run and bench/run.sh; run it alone before a first `cargo build`.
set -euo pipefail
# macOS: Xcode's command line tools have libclang, where bindgen finds it.
[[ $(uname -s) == Linux ]] || exit 0
if [[ -n ${LIBCLANG_PATH:-} ]] || compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null ||
   compgen -G '/usr/lib/*/libclang*.so*' >/dev/null; then
  exit 0
fi
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
command -v apt-get >/dev/null || {
  echo "libclang is needed to build (bindgen); install clang/LLVM, or set LIBCLANG_PATH" >&2
  exit 1
}
echo "installing libclang-dev (bindgen needs it for SQLite's session extension)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libclang-dev >/dev/null
