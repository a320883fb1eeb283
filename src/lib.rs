//! # mcp-files-sqlite
//!
//! An MCP server over stdio that gives a model the user's project files and SQLite databases:
//! read, search and edit files under the directories the user allowed, query the databases the
//! user named (and change those opened writable), and nothing else.
//!
//! ## Architecture
//!
//! The binary speaks MCP over stdio. [`server`] turns requests into calls on the cores. The
//! cores are plain Rust: they know nothing of MCP, JSON-RPC or rmcp.
//!
//! - [`sandbox`]: files under the configured roots. Synchronous; the server calls it inside
//!   `spawn_blocking`. Paths are parsed once into [`sandbox::path::RelPath`] and every access
//!   goes through the root's cap-std `Dir` (`RESOLVE_BENEATH`), never `std::fs` on a joined path.
//! - [`db`]: the named SQLite databases, each on its own worker thread; the server awaits calls
//!   on them. What SQL may do is decided by SQLite's authorizer (`db::policy`), not by reading
//!   SQL text.
//! - [`watch`]: change events. A thread of its own runs the system's file watcher (notify) on
//!   every root, debounces events into batches, and keeps an index of listed files to tell new
//!   files from rewritten ones; it polls subscribed paths where native watching fails.
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
//! sandbox/path.rs      RelPath and client path syntax, Unix and Windows (absolute, relative, ~,
//!                      file://); pure
//! sandbox/platform/    the one platform seam: file kinds and identities, renames, case rules,
//!                      handle ancestry, durability (mod.rs, unix.rs, windows.rs)
//! sandbox/root.rs      Root: mode, cap-std Dir, symlink resolution that stays inside the root
//! sandbox/filter.rs    .gitignore/.ignore/.git/info/exclude rules and glob sets
//! sandbox/walk.rs      sorted, resumable, descriptor-bounded directory walks
//! sandbox/read.rs      whole/head/tail/range text reads, bytes for media and resources
//! sandbox/write.rs     atomic write, edit, mkdir, move, copy, delete
//! sandbox/edit.rs      applying edits and unified diffs; pure
//! sandbox/search.rs    listing, tree, glob search, grep, file info, resource pages
//! db/mod.rs            Databases, Database::run (a job on the worker), DbSpec, names
//! db/query.rs          Session: open with safe settings; read, write, explain, describe, schema
//! db/functions.rs      bounded instr/replace/trim/like/glob: linear, or stopped at the deadline
//! db/policy.rs         the authorizer's decisions per access mode; pure
//! db/value.rs          cells and pages of rows (cut and summarised to the cell limit)
//! db/worker.rs         one thread per database running jobs, panics contained
//! db/monitor.rs        PRAGMA data_version on a connection of its own: did anyone commit?
//! db/error.rs          db::Error: every way a database call fails, with the fix
//! watch/mod.rs         Watcher: notify on each root, debounce, batches, fallback to polling
//! watch/index.rs       hashes of the listed files; "would a walk list this path?"
//! watch/poll.rs        polling subscribed paths (size, mtime in ns, inode) where needed
//! server/mod.rs        Server: ServerHandler, capabilities, instructions, serve_stdio
//! server/tools/        tool params, handlers and renderers (files.rs, sql.rs)
//! server/resources.rs  resources/list (databases, then files), file reads, templates
//! server/db_resources.rs  sqlite:// schema and table resources, completion
//! server/subscriptions.rs  subscribe/unsubscribe, subscriptions/listen, batches → notifications
//! server/transport.rs  our stdio framing: an answer for every line, backpressure, exit on EOF
//! server/roots.rs      client roots: narrowing, and holding file requests until they are in
//! server/uri.rs        file:// and sqlite:// URIs, cursors, MIME types; pure
//! server/progress.rs  progress notifications and cancellation for long calls
//! server/errors.rs     core errors → MCP errors and isError results
//! ```
//!
//! ## Invariants
//!
//! - Only `server/` imports `rmcp`; core types do not derive `Serialize` or `JsonSchema`.
//! - `config.rs` is the only code that uses cap-std's ambient authority. `watch` hands the
//!   roots' canonical paths (and the databases' directories) to the system's watcher, which
//!   watches paths; it opens nothing by name and maps every event back through the sandbox.
//! - Only the transport (`server::transport`, its writer task) writes to stdout (`print_stdout`
//!   is denied by lint).
//! - The cores do not panic on user input; a panic in blocking work fails one request only.

pub mod cli;
pub mod config;
pub mod db;
pub mod sandbox;
pub mod server;
pub mod watch;
