//! # mcp-files-sqlite
//!
//! An MCP server over stdio that gives a model the user's project files: read, search and edit
//! them under the directories the user allowed, and nothing outside them.
//!
//! ## Architecture
//!
//! The binary speaks MCP over stdio. [`server`] turns requests into calls on the cores. The
//! cores are plain Rust: they know nothing of MCP, JSON-RPC or rmcp.
//!
//! - [`sandbox`]: files under the configured roots. Synchronous; the server calls it inside
//!   `spawn_blocking`. Paths are parsed once into [`sandbox::path::RelPath`] and every access
//!   goes through the root's cap-std `Dir` (`RESOLVE_BENEATH`), never `std::fs` on a joined path.
//! - [`config`] and [`cli`]: the command line and TOML file, validated; `config` is the only code
//!   that opens host paths by name (cap-std's ambient authority).
//! - [`server`]: the only code that imports rmcp and builds wire JSON; errors become MCP responses
//!   in `server::errors` only.
//!
//! ## Codemap
//!
//! ```text
//! main.rs              CLI → tracing (stderr) → Config → serve_stdio
//! cli.rs               Args: flags exactly as given; no I/O
//! config.rs            Config::from_args: merge the config file, validate, open roots
//! sandbox/mod.rs       Sandbox: locate client input in a root, client-root narrowing, limits
//! sandbox/path.rs      RelPath and client path syntax (absolute, relative, ~, file://); pure
//! sandbox/root.rs      Root: mode, cap-std Dir, symlink resolution that stays inside the root
//! sandbox/filter.rs    .gitignore/.ignore/.git/info/exclude rules and glob sets
//! sandbox/walk.rs      sorted, resumable, descriptor-bounded directory walks
//! sandbox/read.rs      whole/head/tail/range text reads, bytes for media and resources
//! sandbox/write.rs     atomic write, edit, mkdir, move, copy, delete
//! sandbox/edit.rs      applying edits and unified diffs; pure
//! sandbox/search.rs    listing, tree, glob search, grep, file info, resource pages
//! server/mod.rs        Server: ServerHandler, capabilities, serve_stdio
//! server/tools/        tool params, handlers and renderers
//! server/resources.rs  resources/list, read, templates
//! server/uri.rs        file:// URIs, cursors, MIME types; pure
//! server/errors.rs     core errors → MCP errors and isError results
//! ```
//!
//! ## Invariants
//!
//! - Only `server/` imports `rmcp`; core types do not derive `Serialize` or `JsonSchema`.
//! - `config.rs` is the only code that uses cap-std's ambient authority.
//! - Only the rmcp transport writes to stdout (`print_stdout` is denied by lint).
//! - The cores do not panic on user input; a panic in blocking work fails one request only.

pub mod cli;
pub mod config;
pub mod sandbox;
pub mod server;
