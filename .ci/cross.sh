#!/usr/bin/env bash
# Windows and macOS from this Linux machine:
#   1. type-checks the crate, its tests and examples for both Apple targets (aarch64 and x86_64),
#      warnings denied;
#   2. builds the Windows release binary (target/x86_64-pc-windows-gnu/release/mcp-files-sqlite.exe);
#   3. runs the unit and integration tests for Windows under Wine.
# It installs what it needs, idempotently, from Debian: rustc-web/cargo-web/rust-web-src (Rust 1.96
# with its standard library source, so -Zbuild-std builds std for any target without rustup),
# gcc-mingw-w64-x86-64 (the bundled SQLite and the link step for Windows) and wine64. Wine 8 lacks
# ProcessPrng, which Rust's std imports, so a ten-line shim DLL built with mingw goes into the Wine
# prefix's system32. The Apple SDK is not available, so a stand-in C compiler writes an empty
# object file for the bundled SQLite: a type check never links.
#
#   bash .ci/cross.sh            everything
#   bash .ci/cross.sh macos      only the Apple type checks
#   bash .ci/cross.sh windows    only the Windows build and tests
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
started=$SECONDS
say() { echo "== cross: $* ($((SECONDS - started))s)"; }

# ---- Tools ---------------------------------------------------------------------------------------
need=()
[[ -x /usr/bin/cargo && -x /usr/bin/rustc ]] || need+=(rustc-web cargo-web)
[[ -d /usr/lib/rustlib/src/rust/library ]] || need+=(rust-web-src)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v wine >/dev/null || need+=(wine64 wine)
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  say "installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash .ci/libclang.sh
# bindgen parses sqlite3.h for each target with libclang; for a target other than the host, clang
# does not find its own headers (stdarg.h) beside Debian's libclang, so they are named here.
clang_headers=$(dirname "$(ls /usr/lib/llvm-*/lib/clang/*/include/stdarg.h | sort -V | tail -n 1)")
export BINDGEN_EXTRA_CLANG_ARGS="-isystem $clang_headers"
# Debian's toolchain, not rustup's: it has the standard library source that -Zbuild-std needs.
export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
CARGO=/usr/bin/cargo
"$CARGO" --version

# ---- macOS: type check ---------------------------------------------------------------------------
if [[ $what == all || $what == macos ]]; then
  stub=$(mktemp -d)/cc
  cat >"$stub" <<'EOF'
#!/bin/sh
# Stand-in C compiler for Apple targets: says it is clang when the cc crate asks (it preprocesses
# a file that names the compiler, and tries the MSVC flag -?, which must fail), and writes an
# empty object file where one is asked for. A type check never links, so nothing reads it.
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -E) echo '#pragma message "clang"'; exit 0 ;;
    '-?') exit 1 ;;
    -o) out="$2"; shift ;;
  esac
  shift
done
[ -n "$out" ] && : >"$out"
exit 0
EOF
  chmod +x "$stub"
  for target in aarch64-apple-darwin x86_64-apple-darwin; do
    say "type check for $target"
    var=$(echo "$target" | tr '-' '_')
    env "CC_$var=$stub" "AR_$var=ar" RUSTFLAGS="-D warnings" \
      "$CARGO" check -Zbuild-std --target "$target" --locked --all-targets
  done
fi

# ---- Windows: release binary and the test suite under Wine ---------------------------------------
if [[ $what == all || $what == windows ]]; then
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
  export WINEPREFIX=${WINEPREFIX:-/tmp/mcp-files-sqlite-wine} WINEDEBUG=-all
  if [[ ! -f $WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll ]] ||
     ! grep -q ProcessPrng "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" 2>/dev/null; then
    say "preparing the Wine prefix $WINEPREFIX with the ProcessPrng shim"
    shim=$(mktemp -d)
    cat >"$shim/prng.c" <<'EOF'
/* Wine 8 lacks ProcessPrng (bcryptprimitives.dll), which Rust's std imports on Windows. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk; len -= chunk;
    }
    return TRUE;
}
EOF
    printf 'LIBRARY bcryptprimitives\nEXPORTS\nProcessPrng\n' >"$shim/prng.def"
    x86_64-w64-mingw32-gcc -shared -O2 -o "$shim/bcryptprimitives.dll" "$shim/prng.c" "$shim/prng.def" -ladvapi32
    wineboot -i >/dev/null 2>&1 || true
    cp "$shim/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
  fi
  say "Windows type check, warnings denied"
  # As the Apple checks: code that only Windows compiles must be as clean as the rest.
  RUSTFLAGS="-D warnings" "$CARGO" check -Zbuild-std --target x86_64-pc-windows-gnu --locked --all-targets
  say "Windows release binary"
  "$CARGO" build -Zbuild-std --target x86_64-pc-windows-gnu --locked --release --bin mcp-files-sqlite
  ls -l target/x86_64-pc-windows-gnu/release/mcp-files-sqlite.exe
  wine target/x86_64-pc-windows-gnu/release/mcp-files-sqlite.exe --version
  say "Windows tests under Wine"
  # The unit and integration tests, with the benchmark driver the smoke test runs (doc tests
  # run on the host only).
  "$CARGO" test -Zbuild-std --target x86_64-pc-windows-gnu --locked
fi
say "done"
