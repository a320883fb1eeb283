//! The integration tests: one binary that spawns the real server and speaks JSON-RPC to it.

mod bench;
mod cli;
mod escape;
mod files;
mod progress;
mod props;
mod protocol;
mod regression;
mod resources;
mod scale;
mod sql;
mod support;
mod watch;
