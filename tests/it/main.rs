//! The integration tests: one binary that spawns the real server and speaks JSON-RPC to it.

mod bench;
mod cli;
mod escape;
mod files;
mod hosts;
mod logging;
mod progress;
mod prompts;
// Properties of symlink resolution: Unix symlinks need no privileges (and Wine cannot make them);
// Windows path syntax has its own unit tests (sandbox::path).
#[cfg(unix)]
mod props;
mod protocol;
mod regression;
mod resources;
// Open-file limits (`ulimit -n 256`) exist only on Unix; Windows has no per-process equivalent.
#[cfg(unix)]
mod scale;
mod sql;
mod sql_undo;
mod support;
// The source checks read src/ by its host path: they run where the sources are, not under Wine.
#[cfg(unix)]
mod tidy;
mod undo;
mod watch;
#[cfg(windows)]
mod windows;
